package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"brokk/compat/go-common/harness"
)

// nodeID is the node id of the one broker (brokk: 0).
func nodeID(adm *kadm.Client) int32 {
	bs, err := adm.ListBrokers(ctxFor(10 * time.Second))
	harness.Must(err, "ListBrokers")
	harness.Check(len(bs) == 1, "%d brokers, expected one", len(bs))
	return bs[0].NodeID
}

// adminTopics: CreateTopics with configs, validate-only, the errors Kafka gives (exists,
// replication factor, bad config), Metadata of the new topic, DeleteTopics.
func adminTopics(args []string) {
	broker := args[0]
	adm, acl := admin(broker)
	defer acl.Close()
	ctx := ctxFor(30 * time.Second)
	const t = "fg-admin-t"
	r, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": harness.Ptr("3600000"), "cleanup.policy": harness.Ptr("delete")}, t)
	harness.Must(err, "CreateTopic")
	harness.Check(r.NumPartitions == 3 && r.ReplicationFactor == 1 && r.ID != (kadm.TopicID{}), "create answer: %+v", r)
	rc, ok := r.Configs["retention.ms"]
	harness.Check(ok && rc.Value != nil && *rc.Value == "3600000" && rc.Source == kmsg.ConfigSourceDynamicTopicConfig,
		"CreateTopics answer's retention.ms: %+v", rc)
	sb, ok := r.Configs["segment.bytes"]
	harness.Check(ok && sb.Value != nil && *sb.Value == "1073741824" && sb.Source == kmsg.ConfigSourceDefaultConfig,
		"CreateTopics answer's segment.bytes: %+v", sb)

	v, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "fg-admin-v")
	harness.Must(err, "ValidateCreateTopics")
	harness.Check(v.Error() == nil, "validate-only create: %v", v.Error())
	_, err = adm.CreateTopic(ctx, 3, 1, nil, t)
	harness.Check(harness.ErrIs(err, kerr.TopicAlreadyExists), "creating %s again: %v, expected TOPIC_ALREADY_EXISTS", t, err)
	_, err = adm.CreateTopic(ctx, 1, 3, nil, "fg-admin-rf3")
	harness.Check(harness.ErrIs(err, kerr.InvalidReplicationFactor), "replication factor 3 on one broker: %v, expected INVALID_REPLICATION_FACTOR", err)
	_, err = adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": harness.Ptr("soon")}, "fg-admin-badcfg")
	harness.Check(harness.ErrIs(err, kerr.InvalidConfig), "retention.ms=soon: %v, expected INVALID_CONFIG", err)
	d, err := adm.CreateTopic(ctx, -1, -1, nil, "fg-admin-defaults")
	harness.Must(err, "CreateTopic with the broker's defaults")
	harness.Check(d.NumPartitions == 1 && d.ReplicationFactor == 1, "-1/-1 gave %d partitions, rf %d; expected num.partitions=1, rf 1", d.NumPartitions, d.ReplicationFactor)

	listed, err := adm.ListTopics(ctx)
	harness.Must(err, "ListTopics")
	harness.Check(listed.Has(t) && listed.Has("fg-admin-defaults") && !listed.Has("fg-admin-v") && !listed.Has("fg-admin-rf3") && !listed.Has("fg-admin-badcfg"),
		"ListTopics: %v", listed.Names())
	harness.Check(!listed.Has("__consumer_offsets"), "ListTopics lists an internal topic")
	td := listed[t]
	harness.Check(td.ID == r.ID && !td.IsInternal && len(td.Partitions) == 3, "described %s: %+v", t, td)
	for p, pd := range td.Partitions {
		node := nodeID(adm)
		harness.Check(pd.Err == nil && pd.Leader == node && pd.LeaderEpoch == 0 && fmt.Sprint(pd.Replicas) == fmt.Sprint([]int32{node}) &&
			fmt.Sprint(pd.ISR) == fmt.Sprint([]int32{node}) &&
			len(pd.OfflineReplicas) == 0, "partition %d: %+v", p, pd)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, t)
	harness.Must(err, "DescribeTopicConfigs")
	got := configMap(cfgs, t)
	harness.Check(got["retention.ms"].value == "3600000" && got["retention.ms"].source == kmsg.ConfigSourceDynamicTopicConfig &&
		got["cleanup.policy"].value == "delete" && got["cleanup.policy"].source == kmsg.ConfigSourceDynamicTopicConfig,
		"described configs: retention.ms %+v cleanup.policy %+v", got["retention.ms"], got["cleanup.policy"])

	dr, err := adm.DeleteTopics(ctx, t, "fg-admin-defaults")
	harness.Must(err, "DeleteTopics")
	harness.Check(dr.Error() == nil, "DeleteTopics: %v", dr.Error())
	harness.WaitUntil(10*time.Second, "deleted topics gone from ListTopics", nil, func() bool {
		l, err := adm.ListTopics(ctxFor(5 * time.Second))
		return err == nil && !l.Has(t) && !l.Has("fg-admin-defaults")
	})
	md, err := adm.Metadata(ctx, t)
	harness.Must(err, "Metadata of a deleted topic")
	harness.Check(harness.ErrIs(md.Topics[t].Err, kerr.UnknownTopicOrPartition), "Metadata of deleted %s: %v", t, md.Topics[t].Err)
	_, err = adm.DeleteTopic(ctx, "fg-admin-never")
	harness.Check(harness.ErrIs(err, kerr.UnknownTopicOrPartition), "DeleteTopics of a topic that never was: %v", err)
	harness.Logf("created with configs (echoed in the answer), validate-only, TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG, broker defaults; described (leader = the broker, epoch 0, topic id); deleted; UNKNOWN_TOPIC_OR_PARTITION after")
}

type cfgVal struct {
	value  string
	source kmsg.ConfigSource
}

func configMap(rcs kadm.ResourceConfigs, name string) map[string]cfgVal {
	out := map[string]cfgVal{}
	for _, rc := range rcs {
		if rc.Name != name {
			continue
		}
		harness.Check(rc.Err == nil, "configs of %s: %v", name, rc.Err)
		for _, c := range rc.Configs {
			v := ""
			if c.Value != nil {
				v = *c.Value
			}
			out[c.Key] = cfgVal{v, c.Source}
		}
	}
	harness.Check(len(out) > 0, "no configs for %s", name)
	return out
}

const (
	dynTopic = kmsg.ConfigSourceDynamicTopicConfig
	dflt     = kmsg.ConfigSourceDefaultConfig
)

func topicConfigs(adm *kadm.Client, t string) map[string]cfgVal {
	rcs, err := adm.DescribeTopicConfigs(ctxFor(10*time.Second), t)
	harness.Must(err, "DescribeTopicConfigs")
	return configMap(rcs, t)
}

// adminConfigs: DescribeConfigs of a topic and the broker, IncrementalAlterConfigs (set,
// append, subtract, delete, validate-only), the legacy AlterConfigs (replaces the set),
// an effect of a change (max.message.bytes), and a cluster-wide broker default reaching a
// topic.
func adminConfigs(args []string) {
	broker := args[0]
	adm, acl := admin(broker)
	defer acl.Close()
	ctx := ctxFor(30 * time.Second)
	const t = "fg-admin-c"
	createTopic(adm, t, 1, nil)
	c := topicConfigs(adm, t)
	for k, v := range map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000", "segment.bytes": "1073741824",
		"max.message.bytes": "1048588", "compression.type": "producer"} {
		harness.Check(c[k].value == v && c[k].source == kmsg.ConfigSourceDefaultConfig, "default %s: %+v, expected %s (DEFAULT_CONFIG)", k, c[k], v)
	}
	// Kafka 4 formats its cluster with a dynamic cluster default for this one (source 3)
	harness.Check(c["min.insync.replicas"].value == "1", "min.insync.replicas: %+v", c["min.insync.replicas"])
	n := len(c)

	alter := func(cs ...kadm.AlterConfig) {
		rs, err := adm.AlterTopicConfigs(ctx, cs, t)
		harness.Must(err, "AlterTopicConfigs")
		for _, r := range rs {
			harness.Check(r.Err == nil, "AlterTopicConfigs %v: %v %s", cs, r.Err, r.ErrMessage)
		}
	}
	topic := func() map[string]cfgVal { return topicConfigs(adm, t) }
	alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: harness.Ptr("7200000")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "cleanup.policy", Value: harness.Ptr("compact")})
	harness.ExpectConfigs("after set", topic, map[string]cfgVal{"retention.ms": {"7200000", dynTopic}, "cleanup.policy": {"compact", dynTopic}})
	harness.Check(len(topic()) == n, "%d configs described, %d before", len(topic()), n)
	alter(kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: harness.Ptr("delete")})
	harness.ExpectConfigs("after append", topic, map[string]cfgVal{"cleanup.policy": {"compact,delete", dynTopic}})
	alter(kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: harness.Ptr("compact")})
	harness.ExpectConfigs("after subtract", topic, map[string]cfgVal{"cleanup.policy": {"delete", dynTopic}})
	vr, err := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: harness.Ptr("1")}}, t)
	harness.Must(err, "ValidateAlterTopicConfigs")
	harness.Check(vr[0].Err == nil, "validate-only: %v", vr[0].Err)
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: harness.Ptr("forever")}}, t)
	harness.Must(err, "AlterTopicConfigs")
	harness.Check(harness.ErrIs(rs[0].Err, kerr.InvalidConfig), "retention.ms=forever: %v, expected INVALID_CONFIG", rs[0].Err)
	// a later change is visible, and neither the validate-only 1 nor the refused "forever" was applied
	alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.ms", Value: harness.Ptr("3600000")})
	harness.ExpectConfigs("after validate-only and a refused alter", topic, map[string]cfgVal{"retention.ms": {"7200000", dynTopic}, "segment.ms": {"3600000", dynTopic}})
	alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"})
	harness.ExpectConfigs("after delete", topic, map[string]cfgVal{"retention.ms": {"604800000", dflt}, "segment.ms": {"3600000", dynTopic}})

	// legacy AlterConfigs sets the whole set: the other overrides go
	srs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: harness.Ptr("2000")}}, t)
	harness.Must(err, "AlterTopicConfigsState")
	harness.Check(srs[0].Err == nil, "AlterConfigs: %v", srs[0].Err)
	harness.ExpectConfigs("after AlterConfigs {max.message.bytes=2000}", topic, map[string]cfgVal{"max.message.bytes": {"2000", dynTopic},
		"cleanup.policy": {"delete", dflt}, "segment.ms": {"604800000", dflt}})
	// uncompressed: the limit applies to the batch as sent (kgo compresses with snappy by default)
	p := client(broker, partitioned(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer p.Close()
	big := rec(t, 0, "", strings.Repeat("x", 3000))
	res := p.ProduceSync(ctxFor(15*time.Second), big)
	harness.Check(harness.ErrIs(res[0].Err, kerr.MessageTooLarge), "a 3000-byte record with max.message.bytes=2000: %v, expected MESSAGE_TOO_LARGE", res[0].Err)
	produceSync(p, rec(t, 0, "", strings.Repeat("y", 1000)))

	// the broker: its configs, and a cluster-wide dynamic default that topics inherit
	node := nodeID(adm)
	bc, err := adm.DescribeBrokerConfigs(ctx, node)
	harness.Must(err, "DescribeBrokerConfigs")
	b := configMap(bc, fmt.Sprint(node))
	harness.Check(b["log.segment.bytes"].value == "1073741824" && b["num.partitions"].value == "1" && b["log.retention.hours"].value == "168",
		"broker 0: log.segment.bytes %+v num.partitions %+v log.retention.hours %+v", b["log.segment.bytes"], b["num.partitions"], b["log.retention.hours"])
	ar, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: harness.Ptr("7200000")}})
	harness.Must(err, "AlterBrokerConfigs (cluster default)")
	harness.Check(ar[0].Err == nil, "AlterBrokerConfigs: %v %s", ar[0].Err, ar[0].ErrMessage)
	cluster := func() map[string]cfgVal {
		dc, err := adm.DescribeBrokerConfigs(ctxFor(10 * time.Second))
		harness.Must(err, "DescribeBrokerConfigs (cluster default)")
		return configMap(dc, "")
	}
	harness.ExpectConfigs("cluster default", cluster, map[string]cfgVal{"log.retention.ms": {"7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig}})
	harness.ExpectConfigs("the topic under the cluster default", topic, map[string]cfgVal{"retention.ms": {"7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig}})
	ar, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}})
	harness.Must(err, "AlterBrokerConfigs delete")
	harness.Check(ar[0].Err == nil, "AlterBrokerConfigs delete: %v", ar[0].Err)
	harness.ExpectConfigs("the topic after the default's removal", topic, map[string]cfgVal{"retention.ms": {"604800000", dflt}})
	harness.Logf("%d topic configs with sources; incremental set/append/subtract/delete, validate-only, INVALID_CONFIG; AlterConfigs replaces the set; max.message.bytes=2000 refuses a 3000-byte record; cluster default log.retention.ms reaches the topic and goes", n)
}

// adminPartitions: CreatePartitions validate-only, add, set, errors; the new partitions are
// written from offset 0.
func adminPartitions(args []string) {
	broker := args[0]
	adm, acl := admin(broker)
	defer acl.Close()
	ctx := ctxFor(30 * time.Second)
	const t = "fg-admin-p"
	createTopic(adm, t, 2, nil)
	count := func() int {
		l, err := adm.ListTopics(ctxFor(5*time.Second), t)
		harness.Must(err, "ListTopics")
		return len(l[t].Partitions)
	}
	v, err := adm.ValidateCreatePartitions(ctx, 2, t)
	harness.Must(err, "ValidateCreatePartitions")
	harness.Check(v[t].Err == nil && count() == 2, "validate-only: %v, %d partitions", v[t].Err, count())
	r, err := adm.CreatePartitions(ctx, 2, t)
	harness.Must(err, "CreatePartitions +2")
	harness.Check(r[t].Err == nil, "CreatePartitions +2: %v", r[t].Err)
	harness.WaitUntil(10*time.Second, "4 partitions in Metadata", nil, func() bool { return count() == 4 })
	r, err = adm.UpdatePartitions(ctx, 6, t)
	harness.Must(err, "UpdatePartitions 6")
	harness.Check(r[t].Err == nil, "UpdatePartitions 6: %v", r[t].Err)
	harness.WaitUntil(10*time.Second, "6 partitions in Metadata", nil, func() bool { return count() == 6 })
	r, err = adm.UpdatePartitions(ctx, 3, t)
	harness.Must(err, "UpdatePartitions 3")
	harness.Check(harness.ErrIs(r[t].Err, kerr.InvalidPartitions), "shrinking to 3: %v, expected INVALID_PARTITIONS", r[t].Err)
	r, err = adm.CreatePartitions(ctx, 1, "fg-admin-nope")
	harness.Must(err, "CreatePartitions of an unknown topic")
	harness.Check(harness.ErrIs(r["fg-admin-nope"].Err, kerr.UnknownTopicOrPartition), "unknown topic: %v", r["fg-admin-nope"].Err)
	harness.Check(count() == 6, "%d partitions after the errors", count())

	p := client(broker, partitioned())
	defer p.Close()
	rs := []*kgo.Record{rec(t, 4, "", "four-a"), rec(t, 5, "", "five-a"), rec(t, 5, "", "five-b")}
	produceSync(p, rs...)
	harness.Check(rs[0].Offset == 0 && rs[1].Offset == 0 && rs[2].Offset == 1, "offsets in the new partitions: %d %d %d", rs[0].Offset, rs[1].Offset, rs[2].Offset)
	got := readUntil(broker, t, []int32{4, 5}, kgo.ReadUncommitted(), 15*time.Second, seenOffsets(map[int32]int64{4: 0, 5: 1}))
	var vals []string
	for _, r := range got {
		vals = append(vals, fmt.Sprintf("%d/%d:%s", r.Partition, r.Offset, r.Value))
	}
	sort.Strings(vals)
	harness.Check(fmt.Sprint(vals) == "[4/0:four-a 5/0:five-a 5/1:five-b]", "read back %v", vals)
	harness.Logf("validate-only keeps 2; +2 -> 4; set 6; INVALID_PARTITIONS to shrink; UNKNOWN_TOPIC_OR_PARTITION; partitions 4 and 5 written from offset 0 and read back")
}

// adminRecords: DeleteRecords moves the log start (a consumer from the start begins there),
// -1 means the high watermark, an offset past it is OFFSET_OUT_OF_RANGE, and one below the
// start changes nothing; DescribeLogDirs lists the partitions.
func adminRecords(args []string) {
	broker := args[0]
	adm, acl := admin(broker)
	defer acl.Close()
	ctx := ctxFor(30 * time.Second)
	const t = "fg-admin-r"
	createTopic(adm, t, 2, nil)
	p := client(broker, partitioned())
	defer p.Close()
	var rs []*kgo.Record
	for part := int32(0); part < 2; part++ {
		for i := 0; i < 10; i++ {
			rs = append(rs, rec(t, part, "", fmt.Sprintf("r%d-%d", part, i)))
		}
	}
	produceSync(p, rs...)
	del := func(offs map[int32]int64) kadm.DeleteRecordsResponses {
		var os kadm.Offsets
		for part, o := range offs {
			os.AddOffset(t, part, o, -1)
		}
		r, err := adm.DeleteRecords(ctx, os)
		harness.Must(err, "DeleteRecords")
		return r
	}
	r := del(map[int32]int64{0: 4, 1: -1})
	r0, r1 := r[t][0], r[t][1]
	harness.Check(r0.Err == nil && r0.LowWatermark == 4 && r1.Err == nil && r1.LowWatermark == 10,
		"DeleteRecords {0: 4, 1: -1}: %+v %+v, expected low watermarks 4 and 10", r0, r1)
	start, err := adm.ListStartOffsets(ctx, t)
	harness.Must(err, "ListStartOffsets")
	end, err := adm.ListEndOffsets(ctx, t)
	harness.Must(err, "ListEndOffsets")
	s0, _ := start.Lookup(t, 0)
	s1, _ := start.Lookup(t, 1)
	e0, _ := end.Lookup(t, 0)
	e1, _ := end.Lookup(t, 1)
	harness.Check(s0.Offset == 4 && s1.Offset == 10 && e0.Offset == 10 && e1.Offset == 10, "after DeleteRecords: start %d %d end %d %d", s0.Offset, s1.Offset, e0.Offset, e1.Offset)
	got := readUntil(broker, t, []int32{0}, kgo.ReadUncommitted(), 15*time.Second, seenOffsets(map[int32]int64{0: 9}))
	harness.Check(len(got) == 6 && got[0].Offset == 4 && string(got[0].Value) == "r0-4", "a consumer from the start read %d records, first %d", len(got), got[0].Offset)
	r = del(map[int32]int64{0: 11})
	harness.Check(harness.ErrIs(r[t][0].Err, kerr.OffsetOutOfRange), "DeleteRecords past the high watermark: %+v, expected OFFSET_OUT_OF_RANGE", r[t][0])
	r = del(map[int32]int64{0: 2})
	harness.Check(r[t][0].Err == nil && r[t][0].LowWatermark == 4, "DeleteRecords below the start: %+v, expected low watermark 4", r[t][0])

	dirs, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{t: {0: {}, 1: {}}})
	harness.Must(err, "DescribeAllLogDirs")
	found := 0
	for _, ds := range dirs {
		for _, d := range ds {
			harness.Check(d.Err == nil, "log dir %s: %v", d.Dir, d.Err)
			for _, ps := range d.Topics {
				for _, pd := range ps {
					harness.Check(pd.Topic == t && pd.Size > 0, "log dir partition %+v", pd)
					found++
				}
			}
		}
	}
	harness.Check(found == 2, "DescribeLogDirs found %d of the 2 partitions", found)
	harness.Logf("low watermarks 4 and 10 (-1 = high watermark); ListOffsets earliest 4/10, latest 10/10; a consumer from the start begins at 4; OFFSET_OUT_OF_RANGE past the end; below the start changes nothing; DescribeLogDirs lists both partitions")
}

// adminGroups: ListGroups (and its state filter), DescribeGroups, Lag, DeleteOffsets and
// DeleteGroups refused while a member is subscribed; then, with the group empty,
// CommitOffsets with metadata (kadm), FetchOffsets, DeleteOffsets, a static member removed
// with LeaveGroup, DeleteGroups.
func adminGroups(args []string) {
	broker := args[0]
	adm, acl := admin(broker)
	defer acl.Close()
	ctx := ctxFor(30 * time.Second)
	const t, g = "fg-admin-gt", "fg-admin-g"
	createTopic(adm, t, 2, nil)
	p := client(broker, partitioned())
	defer p.Close()
	var rs []*kgo.Record
	for part := int32(0); part < 2; part++ {
		for i := 0; i < 10; i++ {
			rs = append(rs, rec(t, part, "", fmt.Sprintf("g%d-%d", part, i)))
		}
	}
	produceSync(p, rs...)

	m := client(broker, append(groupOpts(g, t), kgo.ClientID("fg-admin-member"))...)
	read := 0
	harness.WaitUntil(20*time.Second, "the member read all 20 records", nil, func() bool {
		fs := m.PollFetches(ctxFor(200 * time.Millisecond))
		read += len(fs.Records())
		return read >= 20
	})
	harness.Check(read == 20, "the member read %d records", read)
	harness.Must(m.CommitUncommittedOffsets(ctx), "commit")

	lg, err := adm.ListGroups(ctx)
	harness.Must(err, "ListGroups")
	harness.Check(lg[g].State == "Stable" && lg[g].ProtocolType == "consumer" && lg[g].Coordinator == nodeID(adm), "ListGroups: %+v", lg[g])
	lge, err := adm.ListGroups(ctx, "Empty")
	harness.Must(err, "ListGroups Empty")
	_, listed := lge[g]
	harness.Check(!listed, "a Stable group listed under the Empty filter")
	dg, err := adm.DescribeGroups(ctx, g)
	harness.Must(err, "DescribeGroups")
	d := dg[g]
	harness.Check(d.Err == nil && d.State == "Stable" && d.Protocol == "cooperative-sticky" && len(d.Members) == 1 &&
		d.Members[0].ClientID == "fg-admin-member" && d.Members[0].ClientHost != "",
		"DescribeGroups: %+v", d)
	ca, _ := d.Members[0].Assigned.AsConsumer()
	harness.Check(ca != nil && len(ca.Topics) == 1 && fmt.Sprint(ca.Topics[0].Partitions) == "[0 1]", "the member's assignment: %+v", ca)
	lag, err := adm.Lag(ctx, g)
	harness.Must(err, "Lag")
	gl := lag[g]
	harness.Check(gl.Error() == nil, "Lag: %v", gl.Error())
	for part := int32(0); part < 2; part++ {
		l := lag[g].Lag[t][part]
		harness.Check(l.Lag == 0 && l.Commit.At == 10 && l.End.Offset == 10 && l.Member != nil, "lag of %d: %+v", part, l)
	}
	do, err := adm.DeleteOffsets(ctx, g, kadm.TopicsSet{t: {0: {}}})
	harness.Must(err, "DeleteOffsets")
	harness.Check(harness.ErrIs(do[t][0], kerr.GroupSubscribedToTopic), "DeleteOffsets while subscribed: %v, expected GROUP_SUBSCRIBED_TO_TOPIC", do[t][0])
	dgr, err := adm.DeleteGroups(ctx, g)
	harness.Must(err, "DeleteGroups")
	harness.Check(harness.ErrIs(dgr[g].Err, kerr.NonEmptyGroup), "DeleteGroups with a member: %v, expected NON_EMPTY_GROUP", dgr[g].Err)
	m.Close()

	lg, err = adm.ListGroups(ctx, "Empty")
	harness.Must(err, "ListGroups Empty")
	harness.Check(lg[g].State == "Empty", "after the member left, ListGroups(Empty): %+v", lg[g])
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: t, Partition: 0, At: 3, LeaderEpoch: -1, Metadata: "meta-a"})
	os.Add(kadm.Offset{Topic: t, Partition: 1, At: 7, LeaderEpoch: -1, Metadata: "ünï-côdé"})
	cr, err := adm.CommitOffsets(ctx, g, os)
	harness.Must(err, "CommitOffsets")
	harness.Check(cr.Error() == nil, "CommitOffsets: %v", cr.Error())
	fo, err := adm.FetchOffsets(ctx, g)
	harness.Must(err, "FetchOffsets")
	f0, _ := fo.Lookup(t, 0)
	f1, _ := fo.Lookup(t, 1)
	harness.Check(f0.Err == nil && f0.At == 3 && f0.Metadata == "meta-a" && f1.At == 7 && f1.Metadata == "ünï-côdé",
		"FetchOffsets: %+v %+v", f0, f1)
	lag, err = adm.Lag(ctx, g)
	harness.Must(err, "Lag")
	harness.Check(lag[g].Lag[t][0].Lag == 7 && lag[g].Lag[t][1].Lag == 3 && lag[g].State == "Empty", "lag of the empty group: %+v", lag[g].Lag[t])
	do, err = adm.DeleteOffsets(ctx, g, kadm.TopicsSet{t: {1: {}}})
	harness.Must(err, "DeleteOffsets")
	harness.Check(do[t][1] == nil, "DeleteOffsets of partition 1: %v", do[t][1])
	fo, err = adm.FetchOffsets(ctx, g)
	harness.Must(err, "FetchOffsets")
	_, has1 := fo.Lookup(t, 1)
	f0, _ = fo.Lookup(t, 0)
	harness.Check(!has1 && f0.At == 3, "after DeleteOffsets: %+v", fo)

	// a static member (group.instance.id): closing it does not leave the group (KIP-345);
	// the admin removes it
	sm := client(broker, append(groupOpts(g, t), kgo.InstanceID("fg-static-1"))...)
	harness.WaitUntil(20*time.Second, "the static member joined", nil, func() bool {
		sm.PollFetches(ctxFor(100 * time.Millisecond))
		d, err := adm.DescribeGroups(ctxFor(5*time.Second), g)
		return err == nil && d[g].State == "Stable" && len(d[g].Members) == 1
	})
	sm.Close()
	d = mustDescribe(adm, g)
	harness.Check(d.State == "Stable" && len(d.Members) == 1 && d.Members[0].InstanceID != nil && *d.Members[0].InstanceID == "fg-static-1",
		"the static member after its client closed: %+v", d)
	lr, err := adm.LeaveGroup(ctx, kadm.LeaveGroup(g).InstanceIDs("fg-static-1").Reason("compat test"))
	harness.Must(err, "LeaveGroup")
	harness.Check(lr.Error() == nil, "LeaveGroup: %v", lr.Error())
	d = mustDescribe(adm, g)
	harness.Check(d.State == "Empty" && len(d.Members) == 0, "after LeaveGroup: %+v", d)

	dgr, err = adm.DeleteGroups(ctx, g)
	harness.Must(err, "DeleteGroups")
	harness.Check(dgr[g].Err == nil, "DeleteGroups: %v", dgr[g].Err)
	lg, err = adm.ListGroups(ctx)
	harness.Must(err, "ListGroups")
	_, listed = lg[g]
	harness.Check(!listed, "a deleted group is listed")
	fo, err = adm.FetchOffsets(ctx, g)
	harness.Must(err, "FetchOffsets of a deleted group")
	harness.Check(len(fo) == 0, "offsets of a deleted group: %+v", fo)
	dgr, err = adm.DeleteGroups(ctx, g)
	harness.Must(err, "DeleteGroups")
	harness.Check(harness.ErrIs(dgr[g].Err, kerr.GroupIDNotFound), "deleting it again: %v, expected GROUP_ID_NOT_FOUND", dgr[g].Err)
	harness.Logf("ListGroups (Stable, state filter), DescribeGroups (member, client id, assignment), Lag; GROUP_SUBSCRIBED_TO_TOPIC and NON_EMPTY_GROUP while subscribed; CommitOffsets with metadata read back, Lag 7/3, DeleteOffsets; a closed static member stays until LeaveGroup removes it; DeleteGroups, GROUP_ID_NOT_FOUND after")
}

func mustDescribe(adm *kadm.Client, g string) kadm.DescribedGroup {
	d, err := adm.DescribeGroups(ctxFor(10*time.Second), g)
	harness.Must(err, "DescribeGroups")
	harness.Check(d[g].Err == nil, "DescribeGroups %s: %v", g, d[g].Err)
	return d[g]
}
