// Command saramacompat runs one sarama (github.com/IBM/sarama) compat scenario against brokk
// per invocation; compat/sarama/run.sh builds it and runs every scenario:
//
//	saramacompat codecs BROKER                   SyncProducer per codec, read back (data.go)
//	saramacompat times BROKER                    GetOffset / ListOffsets by time, oldest, newest
//	saramacompat times-max BROKER                ListOffsets(-3) as sarama sends it (v6)
//	saramacompat group BROKER STRATEGY           two ConsumerGroup members share 4 partitions (groups.go)
//	saramacompat commit BROKER STATE             MarkMessage/ResetOffset commits; a new member resumes
//	saramacompat resume BROKER STATE             after the broker's kill -9: resume after the last commit
//	saramacompat admin-topics|admin-configs|admin-partitions|admin-records|admin-groups BROKER (admin.go)
//	saramacompat idempotent BROKER N             Idempotent=true, MaxOpenRequests=1 (idem.go)
//	saramacompat txn-eos BROKER N                transactional consume-transform-produce (txn.go)
//	saramacompat txn-fence BROKER                a second producer with the same transactional id
//	saramacompat restart BROKER BROKK_BIN DATA   a PartitionConsumer across a broker restart (restart.go)
//
// Every check that fails prints "FAIL: ..." and exits 1 (../go-common/harness: dispatch,
// checks, waits, the broker the restart scenario runs). SARAMA_LOG=1 logs sarama's own log
// lines to stderr.
package main

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/IBM/sarama"

	"brokk/compat/go-common/harness"
)

var scenarios = map[string]func(args []string){
	"codecs":           codecs,
	"times":            times,
	"times-max":        timesMax,
	"group":            group,
	"commit":           commit,
	"resume":           resume,
	"admin-topics":     adminTopics,
	"admin-configs":    adminConfigs,
	"admin-partitions": adminPartitions,
	"admin-records":    adminRecords,
	"admin-groups":     adminGroups,
	"idempotent":       idempotent,
	"txn-eos":          txnEOS,
	"txn-fence":        txnFence,
	"restart":          restart,
}

func main() {
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	harness.Main("saramacompat", scenarios)
}

// config is every client's configuration: the protocol of Kafka 4.1 (sarama then uses
// the versions brokk's ApiVersions allows), acks=all, successes and errors returned.
func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_1_0_0
	c.ClientID = "brokk-compat-sarama"
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

// manual: the producer sends each message to its Partition.
func manual(c *sarama.Config) *sarama.Config {
	c.Producer.Partitioner = sarama.NewManualPartitioner
	return c
}

func newClient(broker string, c *sarama.Config) sarama.Client {
	cl, err := sarama.NewClient([]string{broker}, c)
	harness.Must(err, "sarama.NewClient")
	return cl
}

func newAdmin(broker string) sarama.TransactionClusterAdmin {
	a, err := sarama.NewClusterAdmin([]string{broker}, config())
	harness.Must(err, "sarama.NewClusterAdmin")
	ta, ok := a.(sarama.TransactionClusterAdmin)
	harness.Check(ok, "the ClusterAdmin is not a TransactionClusterAdmin")
	return ta
}

func newSyncProducer(broker string, c *sarama.Config) sarama.SyncProducer {
	p, err := sarama.NewSyncProducer([]string{broker}, c)
	harness.Must(err, "sarama.NewSyncProducer")
	return p
}

func createTopic(adm sarama.ClusterAdmin, topic string, partitions int32, configs map[string]*string) {
	harness.Must(adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}, false),
		"create topic "+topic)
}

// msg is a message for an explicit partition (producers made with manual()).
func msg(topic string, partition int32, key, value string) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: topic, Partition: partition, Value: sarama.StringEncoder(value)}
	if key != "" {
		m.Key = sarama.StringEncoder(key)
	}
	return m
}

// sendAll sends the messages and fails on any error; they then carry partition and offset.
func sendAll(p sarama.SyncProducer, ms ...*sarama.ProducerMessage) {
	if err := p.SendMessages(ms); err != nil {
		if pes, ok := err.(sarama.ProducerErrors); ok && len(pes) > 0 {
			harness.Fail("produce: %d errors, first: %v", len(pes), pes[0].Err)
		}
		harness.Fail("produce: %v", err)
	}
}

// readPartitions reads the partitions from their start with a PartitionConsumer each
// until it has read offset through[p] of every partition.
func readPartitions(broker, topic string, through map[int32]int64, isolation sarama.IsolationLevel, timeout time.Duration) map[int32][]*sarama.ConsumerMessage {
	c := config()
	c.Consumer.IsolationLevel = isolation
	cons, err := sarama.NewConsumer([]string{broker}, c)
	harness.Must(err, "sarama.NewConsumer")
	defer cons.Close()
	out := map[int32][]*sarama.ConsumerMessage{}
	deadline := time.After(timeout)
	for p, last := range through {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		harness.Must(err, fmt.Sprintf("ConsumePartition %s/%d", topic, p))
		for len(out[p]) == 0 || out[p][len(out[p])-1].Offset < last {
			select {
			case m := <-pc.Messages():
				out[p] = append(out[p], m)
			case err := <-pc.Errors():
				harness.Fail("consume %s/%d: %v", topic, p, err)
			case <-deadline:
				harness.Fail("read of %s/%d: %d records within %s, expected through offset %d", topic, p, len(out[p]), timeout, last)
			}
		}
		harness.Must(pc.Close(), "close PartitionConsumer")
	}
	return out
}

// nodeID is the node id of the one broker (brokk: 0).
func nodeID(adm sarama.ClusterAdmin) int32 {
	bs, _, err := adm.DescribeCluster()
	harness.Must(err, "DescribeCluster")
	harness.Check(len(bs) == 1, "%d brokers, expected one", len(bs))
	return bs[0].ID()
}

// noErr: no error (sarama reports some as ErrNoError rather than nil).
func noErr(err error) bool { return err == nil || err == sarama.ErrNoError }

// valuesOf: the messages' values, in order.
func valuesOf(ms []*sarama.ConsumerMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Value)
	}
	return out
}

func offsets(ms []*sarama.ConsumerMessage) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Offset
	}
	return out
}
