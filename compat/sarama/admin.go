package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"brokk/compat/go-common/harness"
)

// adminTopics: CreateTopic with configs, validate-only, the errors Kafka gives (exists,
// replication factor, bad config), ListTopics, DescribeTopics, DeleteTopic.
func adminTopics(args []string) {
	broker := args[0]
	adm := newAdmin(broker)
	defer adm.Close()
	const t = "sa-admin-t"
	harness.Must(adm.CreateTopic(t, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": harness.Ptr("3600000"), "cleanup.policy": harness.Ptr("delete")}}, false), "CreateTopic")
	harness.Must(adm.CreateTopic("sa-admin-v", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, true), "validate-only CreateTopic")
	err := adm.CreateTopic(t, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
	harness.Check(harness.ErrIs(err, sarama.ErrTopicAlreadyExists), "creating %s again: %v, expected TOPIC_ALREADY_EXISTS", t, err)
	err = adm.CreateTopic("sa-admin-rf3", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false)
	harness.Check(harness.ErrIs(err, sarama.ErrInvalidReplicationFactor), "replication factor 3 on one broker: %v, expected INVALID_REPLICATION_FACTOR", err)
	err = adm.CreateTopic("sa-admin-badcfg", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": harness.Ptr("soon")}}, false)
	harness.Check(harness.ErrIs(err, sarama.ErrInvalidConfig), "retention.ms=soon: %v, expected INVALID_CONFIG", err)
	harness.Must(adm.CreateTopic("sa-admin-defaults", &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1}, false), "CreateTopic with the broker's defaults")

	topics, err := adm.ListTopics()
	harness.Must(err, "ListTopics")
	_, hasV := topics["sa-admin-v"]
	_, hasRF := topics["sa-admin-rf3"]
	_, hasBad := topics["sa-admin-badcfg"]
	harness.Check(!hasV && !hasRF && !hasBad, "ListTopics has a topic that was not created: %v", keys(topics))
	td, ok := topics[t]
	harness.Check(ok && td.NumPartitions == 3 && td.ReplicationFactor == 1, "ListTopics %s: %+v", t, td)
	harness.Check(td.ConfigEntries["retention.ms"] != nil && *td.ConfigEntries["retention.ms"] == "3600000" &&
		td.ConfigEntries["cleanup.policy"] != nil && *td.ConfigEntries["cleanup.policy"] == "delete",
		"ListTopics %s config entries: %v", t, strs(td.ConfigEntries))
	harness.Check(topics["sa-admin-defaults"].NumPartitions == 1, "-1 partitions gave %d, expected num.partitions=1", topics["sa-admin-defaults"].NumPartitions)

	md, err := adm.DescribeTopics([]string{t})
	harness.Must(err, "DescribeTopics")
	harness.Check(len(md) == 1 && md[0].Err == sarama.ErrNoError && md[0].Name == t && !md[0].IsInternal && len(md[0].Partitions) == 3,
		"DescribeTopics: %+v", md)
	node := nodeID(adm)
	for _, p := range md[0].Partitions {
		harness.Check(p.Err == sarama.ErrNoError && p.Leader == node && p.LeaderEpoch == 0 && fmt.Sprint(p.Replicas) == fmt.Sprint([]int32{node}) &&
			fmt.Sprint(p.Isr) == fmt.Sprint([]int32{node}) && len(p.OfflineReplicas) == 0, "partition %d: %+v", p.ID, p)
	}

	harness.Must(adm.DeleteTopic(t), "DeleteTopic")
	harness.Must(adm.DeleteTopic("sa-admin-defaults"), "DeleteTopic")
	harness.WaitUntil(10*time.Second, "deleted topics gone from ListTopics", nil, func() bool {
		ts, err := adm.ListTopics()
		_, a := ts[t]
		_, b := ts["sa-admin-defaults"]
		return err == nil && !a && !b
	})
	md, err = adm.DescribeTopics([]string{t})
	harness.Must(err, "DescribeTopics of a deleted topic")
	harness.Check(len(md) == 1 && md[0].Err == sarama.ErrUnknownTopicOrPartition, "DescribeTopics of deleted %s: %+v", t, md)
	err = adm.DeleteTopic("sa-admin-never")
	harness.Check(harness.ErrIs(err, sarama.ErrUnknownTopicOrPartition), "DeleteTopic of a topic that never was: %v", err)
	harness.Logf("created with configs, validate-only, TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG, broker defaults; ListTopics with the overrides; DescribeTopics (leader = the broker, epoch 0); deleted; UNKNOWN_TOPIC_OR_PARTITION after")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strs(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

type cfgVal struct {
	value  string
	source sarama.ConfigSource
}

func describe(adm sarama.ClusterAdmin, typ sarama.ConfigResourceType, name string) map[string]cfgVal {
	es, err := adm.DescribeConfig(sarama.ConfigResource{Type: typ, Name: name})
	harness.Must(err, "DescribeConfig "+name)
	out := map[string]cfgVal{}
	for _, e := range es {
		out[e.Name] = cfgVal{e.Value, e.Source}
	}
	harness.Check(len(out) > 0, "no configs for %s", name)
	return out
}

const (
	dynTopic = sarama.SourceTopic
	dflt     = sarama.SourceDefault
)

// adminConfigs: DescribeConfig of a topic and the broker, IncrementalAlterConfig (set,
// append, subtract, delete, validate-only), the legacy AlterConfig (replaces the set), an
// effect of a change (max.message.bytes), and a cluster-wide broker default reaching a
// topic.
func adminConfigs(args []string) {
	broker := args[0]
	adm := newAdmin(broker)
	defer adm.Close()
	const t = "sa-admin-c"
	createTopic(adm, t, 1, nil)
	topic := func() map[string]cfgVal { return describe(adm, sarama.TopicResource, t) }
	c := topic()
	for k, v := range map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000", "segment.bytes": "1073741824",
		"max.message.bytes": "1048588", "compression.type": "producer"} {
		harness.Check(c[k] == cfgVal{v, dflt}, "default %s: %+v, expected %s (DEFAULT_CONFIG)", k, c[k], v)
	}
	n := len(c)
	inc := func(entries map[string]sarama.IncrementalAlterConfigsEntry) {
		harness.Must(adm.IncrementalAlterConfig(sarama.TopicResource, t, entries, false), fmt.Sprintf("IncrementalAlterConfig %v", entries))
	}
	op := func(o sarama.IncrementalAlterConfigsOperation, v *string) sarama.IncrementalAlterConfigsEntry {
		return sarama.IncrementalAlterConfigsEntry{Operation: o, Value: v}
	}
	inc(map[string]sarama.IncrementalAlterConfigsEntry{"retention.ms": op(sarama.IncrementalAlterConfigsOperationSet, harness.Ptr("7200000")),
		"cleanup.policy": op(sarama.IncrementalAlterConfigsOperationSet, harness.Ptr("compact"))})
	harness.ExpectConfigs("after set", topic, map[string]cfgVal{"retention.ms": {"7200000", dynTopic}, "cleanup.policy": {"compact", dynTopic}})
	harness.Check(len(topic()) == n, "%d configs described, %d before", len(topic()), n)
	inc(map[string]sarama.IncrementalAlterConfigsEntry{"cleanup.policy": op(sarama.IncrementalAlterConfigsOperationAppend, harness.Ptr("delete"))})
	harness.ExpectConfigs("after append", topic, map[string]cfgVal{"cleanup.policy": {"compact,delete", dynTopic}})
	inc(map[string]sarama.IncrementalAlterConfigsEntry{"cleanup.policy": op(sarama.IncrementalAlterConfigsOperationSubtract, harness.Ptr("compact"))})
	harness.ExpectConfigs("after subtract", topic, map[string]cfgVal{"cleanup.policy": {"delete", dynTopic}})
	harness.Must(adm.IncrementalAlterConfig(sarama.TopicResource, t, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": op(sarama.IncrementalAlterConfigsOperationSet, harness.Ptr("1"))}, true), "validate-only IncrementalAlterConfig")
	err := adm.IncrementalAlterConfig(sarama.TopicResource, t, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": op(sarama.IncrementalAlterConfigsOperationSet, harness.Ptr("forever"))}, false)
	harness.Check(harness.ErrIs(err, sarama.ErrInvalidConfig), "retention.ms=forever: %v, expected INVALID_CONFIG", err)
	// a later change is visible, and neither the validate-only 1 nor the refused "forever" was applied
	inc(map[string]sarama.IncrementalAlterConfigsEntry{"segment.ms": op(sarama.IncrementalAlterConfigsOperationSet, harness.Ptr("3600000"))})
	harness.ExpectConfigs("after validate-only and a refused alter", topic, map[string]cfgVal{"retention.ms": {"7200000", dynTopic}, "segment.ms": {"3600000", dynTopic}})
	inc(map[string]sarama.IncrementalAlterConfigsEntry{"retention.ms": op(sarama.IncrementalAlterConfigsOperationDelete, nil)})
	harness.ExpectConfigs("after delete", topic, map[string]cfgVal{"retention.ms": {"604800000", dflt}, "segment.ms": {"3600000", dynTopic}})

	// legacy AlterConfigs sets the whole set: the other overrides go
	harness.Must(adm.AlterConfig(sarama.TopicResource, t, map[string]*string{"max.message.bytes": harness.Ptr("2000")}, false), "AlterConfig")
	harness.ExpectConfigs("after AlterConfigs {max.message.bytes=2000}", topic, map[string]cfgVal{"max.message.bytes": {"2000", dynTopic},
		"cleanup.policy": {"delete", dflt}, "segment.ms": {"604800000", dflt}})
	p := newSyncProducer(broker, manual(config())) // sarama's default: no compression
	defer p.Close()
	_, _, err = p.SendMessage(msg(t, 0, "", strings.Repeat("x", 3000)))
	harness.Check(harness.ErrIs(err, sarama.ErrMessageSizeTooLarge), "a 3000-byte message with max.message.bytes=2000: %v, expected MESSAGE_TOO_LARGE", err)
	_, _, err = p.SendMessage(msg(t, 0, "", strings.Repeat("y", 1000)))
	harness.Must(err, "a 1000-byte message")

	node := fmt.Sprint(nodeID(adm))
	b := describe(adm, sarama.BrokerResource, node)
	harness.Check(b["log.segment.bytes"].value == "1073741824" && b["num.partitions"].value == "1" && b["log.retention.hours"].value == "168",
		"broker %s: log.segment.bytes %+v num.partitions %+v log.retention.hours %+v", node, b["log.segment.bytes"], b["num.partitions"], b["log.retention.hours"])
	harness.Must(adm.IncrementalAlterConfig(sarama.BrokerResource, "", map[string]sarama.IncrementalAlterConfigsEntry{
		"log.retention.ms": op(sarama.IncrementalAlterConfigsOperationSet, harness.Ptr("7200000"))}, false), "IncrementalAlterConfig (cluster default)")
	cluster := func() map[string]cfgVal { return describe(adm, sarama.BrokerResource, "") }
	harness.ExpectConfigs("cluster default", cluster, map[string]cfgVal{"log.retention.ms": {"7200000", sarama.SourceDynamicDefaultBroker}})
	harness.ExpectConfigs("the topic under the cluster default", topic, map[string]cfgVal{"retention.ms": {"7200000", sarama.SourceDynamicDefaultBroker}})
	harness.Must(adm.IncrementalAlterConfig(sarama.BrokerResource, "", map[string]sarama.IncrementalAlterConfigsEntry{
		"log.retention.ms": op(sarama.IncrementalAlterConfigsOperationDelete, nil)}, false), "IncrementalAlterConfig delete (cluster default)")
	harness.ExpectConfigs("the topic after the default's removal", topic, map[string]cfgVal{"retention.ms": {"604800000", dflt}})
	harness.Logf("%d topic configs with sources; incremental set/append/subtract/delete, validate-only, INVALID_CONFIG; AlterConfig replaces the set; max.message.bytes=2000 refuses a 3000-byte message; cluster default log.retention.ms reaches the topic and goes", n)
}

// adminPartitions: CreatePartitions validate-only, grow, grow with a manual assignment,
// errors; the new partitions are written from offset 0.
func adminPartitions(args []string) {
	broker := args[0]
	adm := newAdmin(broker)
	defer adm.Close()
	const t = "sa-admin-p"
	createTopic(adm, t, 2, nil)
	count := func() int {
		md, err := adm.DescribeTopics([]string{t})
		harness.Must(err, "DescribeTopics")
		return len(md[0].Partitions)
	}
	harness.Must(adm.CreatePartitions(t, 4, nil, true), "validate-only CreatePartitions")
	harness.Check(count() == 2, "validate-only: %d partitions", count())
	harness.Must(adm.CreatePartitions(t, 4, nil, false), "CreatePartitions 4")
	harness.WaitUntil(10*time.Second, "4 partitions in Metadata", nil, func() bool { return count() == 4 })
	node := nodeID(adm)
	harness.Must(adm.CreatePartitions(t, 6, [][]int32{{node}, {node}}, false), "CreatePartitions 6 with an assignment")
	harness.WaitUntil(10*time.Second, "6 partitions in Metadata", nil, func() bool { return count() == 6 })
	err := adm.CreatePartitions(t, 3, nil, false)
	harness.Check(harness.ErrIs(err, sarama.ErrInvalidPartitions), "shrinking to 3: %v, expected INVALID_PARTITIONS", err)
	err = adm.CreatePartitions(t, 8, [][]int32{{node}}, false)
	harness.Check(harness.ErrIs(err, sarama.ErrInvalidReplicaAssignment), "2 new partitions with 1 assignment: %v, expected INVALID_REPLICA_ASSIGNMENT", err)
	err = adm.CreatePartitions("sa-admin-nope", 2, nil, false)
	harness.Check(harness.ErrIs(err, sarama.ErrUnknownTopicOrPartition), "unknown topic: %v", err)
	harness.Check(count() == 6, "%d partitions after the errors", count())
	p := newSyncProducer(broker, manual(config()))
	defer p.Close()
	ms := []*sarama.ProducerMessage{msg(t, 4, "", "four-a"), msg(t, 5, "", "five-a"), msg(t, 5, "", "five-b")}
	sendAll(p, ms...)
	harness.Check(ms[0].Offset == 0 && ms[1].Offset == 0 && ms[2].Offset == 1, "offsets in the new partitions: %d %d %d", ms[0].Offset, ms[1].Offset, ms[2].Offset)
	got := readPartitions(broker, t, map[int32]int64{4: 0, 5: 1}, sarama.ReadUncommitted, 15*time.Second)
	var vals []string
	for part, pms := range got {
		for _, m := range pms {
			vals = append(vals, fmt.Sprintf("%d/%d:%s", part, m.Offset, m.Value))
		}
	}
	sort.Strings(vals)
	harness.Check(fmt.Sprint(vals) == "[4/0:four-a 5/0:five-a 5/1:five-b]", "read back %v", vals)
	harness.Logf("validate-only keeps 2; 4; 6 with a manual assignment; INVALID_PARTITIONS, INVALID_REPLICA_ASSIGNMENT, UNKNOWN_TOPIC_OR_PARTITION; partitions 4 and 5 written from offset 0 and read back")
}

// adminRecords: DeleteRecords moves the log start (GetOffset(oldest), a consumer from
// the oldest offset), -1 means the high watermark, an offset past it is refused;
// DescribeLogDirs lists the partitions.
func adminRecords(args []string) {
	broker := args[0]
	adm := newAdmin(broker)
	defer adm.Close()
	const t = "sa-admin-r"
	createTopic(adm, t, 2, nil)
	p := newSyncProducer(broker, manual(config()))
	defer p.Close()
	var ms []*sarama.ProducerMessage
	for part := int32(0); part < 2; part++ {
		for i := 0; i < 10; i++ {
			ms = append(ms, msg(t, part, "", fmt.Sprintf("r%d-%d", part, i)))
		}
	}
	sendAll(p, ms...)
	harness.Must(adm.DeleteRecords(t, map[int32]int64{0: 4, 1: -1}), "DeleteRecords {0: 4, 1: -1}")
	cl := newClient(broker, config())
	defer cl.Close()
	off := func(part int32, which int64) int64 {
		o, err := cl.GetOffset(t, part, which)
		harness.Must(err, "GetOffset")
		return o
	}
	harness.Check(off(0, sarama.OffsetOldest) == 4 && off(1, sarama.OffsetOldest) == 10 && off(0, sarama.OffsetNewest) == 10 && off(1, sarama.OffsetNewest) == 10,
		"after DeleteRecords: oldest %d %d newest %d %d", off(0, sarama.OffsetOldest), off(1, sarama.OffsetOldest), off(0, sarama.OffsetNewest), off(1, sarama.OffsetNewest))
	got := readPartitions(broker, t, map[int32]int64{0: 9}, sarama.ReadUncommitted, 15*time.Second)[0]
	harness.Check(len(got) == 6 && got[0].Offset == 4 && string(got[0].Value) == "r0-4", "a consumer from the oldest offset read %v", offsets(got))
	err := adm.DeleteRecords(t, map[int32]int64{0: 11})
	harness.Check(harness.ErrIs(err, sarama.ErrOffsetOutOfRange), "DeleteRecords past the high watermark: %v, expected OFFSET_OUT_OF_RANGE", err)
	harness.Must(adm.DeleteRecords(t, map[int32]int64{0: 2}), "DeleteRecords below the start")
	harness.Check(off(0, sarama.OffsetOldest) == 4, "DeleteRecords below the start moved it to %d", off(0, sarama.OffsetOldest))

	node := nodeID(adm)
	dirs, err := adm.DescribeLogDirs([]int32{node})
	harness.Must(err, "DescribeLogDirs")
	found := 0
	for _, ds := range dirs[node] {
		harness.Check(ds.ErrorCode == sarama.ErrNoError, "log dir %s: %v", ds.Path, ds.ErrorCode)
		for _, tp := range ds.Topics {
			if tp.Topic != t {
				continue
			}
			for _, pp := range tp.Partitions {
				harness.Check(pp.Size > 0, "log dir partition %s/%d size %d", t, pp.PartitionID, pp.Size)
				found++
			}
		}
	}
	harness.Check(found == 2, "DescribeLogDirs found %d of the 2 partitions", found)
	harness.Logf("oldest offsets 4 and 10 (-1 = high watermark), newest 10/10; a consumer from the oldest offset begins at 4; OFFSET_OUT_OF_RANGE past the end; below the start changes nothing; DescribeLogDirs lists both partitions")
}

// adminGroups: ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets;
// DeleteConsumerGroupOffset and DeleteConsumerGroup refused while a member is subscribed;
// with the group empty, AlterConsumerGroupOffsets with metadata, DeleteConsumerGroupOffset,
// a closed static member removed with RemoveMemberFromConsumerGroup, DeleteConsumerGroup.
func adminGroups(args []string) {
	broker := args[0]
	adm := newAdmin(broker)
	defer adm.Close()
	const t, g = "sa-admin-gt", "sa-admin-g"
	createTopic(adm, t, 2, nil)
	p := newSyncProducer(broker, manual(config()))
	defer p.Close()
	var ms []*sarama.ProducerMessage
	for part := int32(0); part < 2; part++ {
		for i := 0; i < 10; i++ {
			ms = append(ms, msg(t, part, "", fmt.Sprintf("g%d-%d", part, i)))
		}
	}
	sendAll(p, ms...)

	l := newLedger()
	mcfg := groupConfig(sarama.NewBalanceStrategyRange())
	mcfg.ClientID = "sa-admin-member"
	cg, err := sarama.NewConsumerGroup([]string{broker}, g, mcfg)
	harness.Must(err, "NewConsumerGroup")
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: "M", cg: cg, l: l, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{t}, m); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				harness.Fail("Consume: %v", err)
			}
		}
	}()
	harness.WaitUntil(20*time.Second, "the member consumed all 20 messages", l.Wake, func() bool { return len(l.Snapshot()) >= 20 })

	groups, err := adm.ListConsumerGroups()
	harness.Must(err, "ListConsumerGroups")
	harness.Check(groups[g] == "consumer", "ListConsumerGroups: %v", groups)
	d := describeGroup(adm, g)
	harness.Check(d.State == "Stable" && d.ProtocolType == "consumer" && d.Protocol == "range" && len(d.Members) == 1, "DescribeConsumerGroups: %+v", d)
	for _, mem := range d.Members {
		as, err := mem.GetMemberAssignment()
		harness.Must(err, "assignment")
		harness.Check(mem.ClientId == "sa-admin-member" && mem.ClientHost != "" && fmt.Sprint(as.Topics[t]) == "[0 1]", "the member: %+v, assignment %v", mem, as.Topics)
	}
	o := groupOffsets(adm, g, t, 2)
	harness.Check(o[0].Offset == 10 && o[1].Offset == 10, "committed offsets: %v", o)
	err = adm.DeleteConsumerGroupOffset(g, t, 0)
	harness.Check(harness.ErrIs(err, sarama.ErrGroupSubscribedToTopic), "DeleteConsumerGroupOffset while subscribed: %v, expected GROUP_SUBSCRIBED_TO_TOPIC", err)
	err = adm.DeleteConsumerGroup(g)
	harness.Check(harness.ErrIs(err, sarama.ErrNonEmptyGroup), "DeleteConsumerGroup with a member: %v, expected NON_EMPTY_GROUP", err)
	m.leave()

	harness.Check(describeGroup(adm, g).State == "Empty", "after the member left: %+v", describeGroup(adm, g))
	resp, err := adm.AlterConsumerGroupOffsets(g, map[string]map[int32]sarama.OffsetAndMetadata{t: {
		0: {Offset: 3, Metadata: "meta-a", LeaderEpoch: -1}, 1: {Offset: 7, Metadata: "ünï-côdé", LeaderEpoch: -1}}}, nil)
	harness.Must(err, "AlterConsumerGroupOffsets")
	for part, kerr := range resp.Errors[t] {
		harness.Check(kerr == sarama.ErrNoError, "AlterConsumerGroupOffsets %d: %v", part, kerr)
	}
	o = groupOffsets(adm, g, t, 2)
	harness.Check(o[0] == committedOffset{3, "meta-a"} && o[1] == committedOffset{7, "ünï-côdé"}, "after AlterConsumerGroupOffsets: %v", o)
	harness.Must(adm.DeleteConsumerGroupOffset(g, t, 1), "DeleteConsumerGroupOffset")
	o = groupOffsets(adm, g, t, 2)
	harness.Check(o[0].Offset == 3 && o[1].Offset == -1, "after DeleteConsumerGroupOffset of partition 1: %v", o)

	// a static member (group.instance.id): closing it does not leave the group (KIP-345);
	// the admin removes it
	scfg := groupConfig(sarama.NewBalanceStrategyRange())
	scfg.Consumer.Group.InstanceId = "sa-static-1"
	scg, err := sarama.NewConsumerGroup([]string{broker}, g, scfg)
	harness.Must(err, "NewConsumerGroup (static)")
	sl := newLedger()
	sctx, scancel := context.WithCancel(context.Background())
	sm := &member{name: "S", cg: scg, l: sl, cancel: scancel, done: make(chan struct{})}
	go func() {
		defer close(sm.done)
		for sctx.Err() == nil {
			if err := scg.Consume(sctx, []string{t}, sm); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				harness.Fail("Consume (static): %v", err)
			}
		}
	}()
	harness.WaitUntil(20*time.Second, "the static member owns both partitions", sl.Wake, func() bool { return len(sl.owned("S")) == 2 })
	sm.leave()
	d = describeGroup(adm, g)
	harness.Check(d.State == "Stable" && len(d.Members) == 1, "the static member after its client closed: %+v", d)
	for _, mem := range d.Members {
		harness.Check(mem.GroupInstanceId != nil && *mem.GroupInstanceId == "sa-static-1", "static member: %+v", mem)
	}
	lr, err := adm.RemoveMemberFromConsumerGroup(g, []string{"sa-static-1"})
	harness.Must(err, "RemoveMemberFromConsumerGroup")
	harness.Check(lr.Err == sarama.ErrNoError && len(lr.Members) == 1 && lr.Members[0].Err == sarama.ErrNoError,
		"RemoveMemberFromConsumerGroup: %+v", lr)
	d = describeGroup(adm, g)
	harness.Check(d.State == "Empty" && len(d.Members) == 0, "after RemoveMemberFromConsumerGroup: %+v", d)

	harness.Must(adm.DeleteConsumerGroup(g), "DeleteConsumerGroup")
	groups, err = adm.ListConsumerGroups()
	harness.Must(err, "ListConsumerGroups")
	_, listed := groups[g]
	harness.Check(!listed, "a deleted group is listed")
	o = groupOffsets(adm, g, t, 2)
	harness.Check(o[0].Offset == -1 && o[1].Offset == -1, "offsets of a deleted group: %v", o)
	err = adm.DeleteConsumerGroup(g)
	harness.Check(harness.ErrIs(err, sarama.ErrGroupIDNotFound), "deleting it again: %v, expected GROUP_ID_NOT_FOUND", err)
	harness.Logf("ListConsumerGroups, DescribeConsumerGroups (Stable, range, client id, assignment), committed offsets; GROUP_SUBSCRIBED_TO_TOPIC and NON_EMPTY_GROUP while subscribed; AlterConsumerGroupOffsets with metadata read back, DeleteConsumerGroupOffset; a closed static member stays until RemoveMemberFromConsumerGroup; DeleteConsumerGroup, GROUP_ID_NOT_FOUND after")
}

func describeGroup(adm sarama.ClusterAdmin, g string) *sarama.GroupDescription {
	ds, err := adm.DescribeConsumerGroups([]string{g})
	harness.Must(err, "DescribeConsumerGroups")
	harness.Check(len(ds) == 1 && ds[0].Err == sarama.ErrNoError, "DescribeConsumerGroups %s: %+v", g, ds)
	return ds[0]
}
