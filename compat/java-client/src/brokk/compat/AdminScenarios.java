package brokk.compat;

import static brokk.compat.Clients.check;
import static brokk.compat.Clients.checkEq;
import static brokk.compat.Clients.failure;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreatePartitionsOptions;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/** The Admin client: topics, configs, partitions, records, groups. */
final class AdminScenarios {
    private AdminScenarios() {}

    static void topics(Main.Context ctx) throws Exception {
        try (var admin = Clients.admin(ctx.bootstrap())) {
            var cluster = admin.describeCluster();
            checkEq(1, cluster.nodes().get().size(), "brokers");
            int node = cluster.nodes().get().iterator().next().id();
            checkEq(node, cluster.controller().get().id(), "controller");
            check(!cluster.clusterId().get().isEmpty(), "an empty cluster id");

            var topic = new NewTopic("admin-t", 3, (short) 1).configs(Map.of("retention.ms", "86400000"));
            admin.createTopics(List.of(topic), new CreateTopicsOptions().validateOnly(true)).all().get();
            check(!admin.listTopics().names().get().contains("admin-t"), "validateOnly created the topic");
            var created = admin.createTopics(List.of(topic));
            var id = created.topicId("admin-t").get();
            checkEq(3, created.numPartitions("admin-t").get(), "numPartitions in the CreateTopics answer");
            checkEq("86400000", created.config("admin-t").get().get("retention.ms").value(), "config in the CreateTopics answer");
            check(failure(() -> admin.createTopics(List.of(topic)).all()) instanceof TopicExistsException,
                    "a second create is not TopicExistsException");
            check(failure(() -> admin.createTopics(List.of(new NewTopic("admin-rf", 1, (short) 3))).all())
                    instanceof InvalidReplicationFactorException, "replication factor 3 on one broker");
            check(Clients.eventually(() -> admin.listTopics().names().get().contains("admin-t")), "listTopics lacks the topic");

            var byName = admin.describeTopics(List.of("admin-t")).allTopicNames().get().get("admin-t");
            checkEq(id, byName.topicId(), "topic id by name");
            checkEq(3, byName.partitions().size(), "partitions");
            for (var p : byName.partitions()) {
                checkEq(node, p.leader().id(), "leader of partition " + p.partition());
                checkEq(1, p.isr().size(), "ISR of partition " + p.partition());
            }
            var byId = admin.describeTopics(TopicCollection.ofTopicIds(List.of(id))).allTopicIds().get().get(id);
            checkEq("admin-t", byId.name(), "name by topic id");
            check(failure(() -> admin.describeTopics(List.of("admin-none")).allTopicNames())
                    instanceof UnknownTopicOrPartitionException, "describing an unknown topic");

            admin.deleteTopics(TopicCollection.ofTopicIds(List.of(id))).all().get();
            check(Clients.eventually(() -> !admin.listTopics().names().get().contains("admin-t")),
                    "the deleted topic is still listed");
            check(failure(() -> admin.deleteTopics(List.of("admin-t")).all()) instanceof UnknownTopicOrPartitionException,
                    "deleting it again");
        }
    }

    static void configs(Main.Context ctx) throws Exception {
        var topic = new ConfigResource(ConfigResource.Type.TOPIC, "admin-c");
        try (var admin = Clients.admin(ctx.bootstrap())) {
            var broker = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(Clients.nodeId(admin)));
            Clients.createTopic(admin, "admin-c", 1, Map.of("cleanup.policy", "delete"));
            var described = admin.describeConfigs(List.of(topic, broker)).all().get();
            var retention = described.get(topic).get("retention.ms");
            checkEq("604800000", retention.value(), "default retention.ms");
            checkEq(ConfigEntry.ConfigSource.DEFAULT_CONFIG, retention.source(), "its source");
            checkEq(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, described.get(topic).get("cleanup.policy").source(),
                    "cleanup.policy's source");
            check(described.get(broker).get("log.retention.hours") != null, "the broker has no log.retention.hours");

            Map<ConfigResource, java.util.Collection<AlterConfigOp>> ops = Map.of(topic, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND),
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000"), AlterConfigOp.OpType.SET)));
            admin.incrementalAlterConfigs(ops, new AlterConfigsOptions().validateOnly(true)).all().get();
            checkEq("604800000", admin.describeConfigs(List.of(topic)).all().get().get(topic).get("retention.ms").value(),
                    "retention.ms after validateOnly");
            admin.incrementalAlterConfigs(ops).all().get();
            checkEq("3600000", awaitConfig(admin, topic, "retention.ms", "3600000").value(), "retention.ms after SET");
            checkEq("2000", awaitConfig(admin, topic, "max.message.bytes", "2000").value(), "max.message.bytes after SET");
            var after = admin.describeConfigs(List.of(topic)).all().get().get(topic);
            checkEq("delete,compact", after.get("cleanup.policy").value(), "cleanup.policy after APPEND");

            try (var p = Clients.producer(ctx.bootstrap(), Map.of("linger.ms", "0"))) {
                var big = "x".repeat(3000);
                check(Clients.sendFailure(p, new ProducerRecord<>("admin-c", big)) instanceof RecordTooLargeException,
                        "a 3000-byte record under max.message.bytes=2000");
            }

            admin.incrementalAlterConfigs(Map.of(topic, List.of(
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.SUBTRACT),
                    new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE)))).all().get();
            awaitConfig(admin, topic, "retention.ms", "604800000");
            after = admin.describeConfigs(List.of(topic)).all().get().get(topic);
            checkEq("compact", after.get("cleanup.policy").value(), "cleanup.policy after SUBTRACT");
            checkEq("604800000", after.get("retention.ms").value(), "retention.ms after DELETE");
            checkEq(ConfigEntry.ConfigSource.DEFAULT_CONFIG, after.get("retention.ms").source(), "its source after DELETE");

            var invalid = failure(() -> admin.incrementalAlterConfigs(Map.of(topic, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all());
            checkEq("InvalidConfigurationException", invalid.getClass().getSimpleName(), "an invalid value");

            admin.incrementalAlterConfigs(Map.of(broker, List.of(
                    new AlterConfigOp(new ConfigEntry("log.cleaner.threads", "2"), AlterConfigOp.OpType.SET)))).all().get();
            var b = awaitConfig(admin, broker, "log.cleaner.threads", "2");
            checkEq("2", b.value(), "a dynamic broker config");
            checkEq(ConfigEntry.ConfigSource.DYNAMIC_BROKER_CONFIG, b.source(), "its source");
            admin.incrementalAlterConfigs(Map.of(broker, List.of(
                    new AlterConfigOp(new ConfigEntry("log.cleaner.threads", ""), AlterConfigOp.OpType.DELETE)))).all().get();
        }
    }

    /** The entry once it has the value, or after 10 s (see {@link Clients#eventually}). */
    static ConfigEntry awaitConfig(org.apache.kafka.clients.admin.Admin admin, ConfigResource resource, String name,
            String value) throws Exception {
        Clients.eventually(() -> {
            var entry = admin.describeConfigs(List.of(resource)).all().get().get(resource).get(name);
            return entry != null && value.equals(entry.value());
        });
        return admin.describeConfigs(List.of(resource)).all().get().get(resource).get(name);
    }

    static void partitions(Main.Context ctx) throws Exception {
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, "admin-p", 2, Map.of());
            admin.createPartitions(Map.of("admin-p", NewPartitions.increaseTo(5)),
                    new CreatePartitionsOptions().validateOnly(true)).all().get();
            checkEq(2, admin.describeTopics(List.of("admin-p")).allTopicNames().get().get("admin-p").partitions().size(),
                    "partitions after validateOnly");
            admin.createPartitions(Map.of("admin-p", NewPartitions.increaseTo(5))).all().get();
            Clients.eventually(() -> admin.describeTopics(List.of("admin-p")).allTopicNames().get().get("admin-p")
                    .partitions().size() == 5);
            checkEq(5, admin.describeTopics(List.of("admin-p")).allTopicNames().get().get("admin-p").partitions().size(),
                    "partitions after growing");
            check(failure(() -> admin.createPartitions(Map.of("admin-p", NewPartitions.increaseTo(3))).all())
                    instanceof InvalidPartitionsException, "shrinking");
            check(failure(() -> admin.createPartitions(Map.of("admin-none", NewPartitions.increaseTo(3))).all())
                    instanceof UnknownTopicOrPartitionException, "an unknown topic");
            try (var p = Clients.producer(ctx.bootstrap(), Map.of())) {
                p.send(new ProducerRecord<>("admin-p", 4, "k", "in the new partition")).get();
            }
        }
    }

    static void records(Main.Context ctx) throws Exception {
        var tp = new TopicPartition("admin-r", 0);
        long base = 1_700_000_000_000L;
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, "admin-r", 1, Map.of());
            try (var p = Clients.producer(ctx.bootstrap(), Map.of())) {
                var records = new ArrayList<ProducerRecord<String, String>>();
                for (int i = 0; i < 10; i++) {
                    records.add(new ProducerRecord<>("admin-r", 0, base + (i == 7 ? 50_000 : i * 1000L), "k" + i, "v" + i));
                }
                Clients.send(p, records);
            }
            var low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp).get();
            checkEq(4L, low.lowWatermark(), "low watermark");
            check(failure(() -> admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(11))).all())
                    instanceof OffsetOutOfRangeException, "deleting past the end");
            var offsets = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get();
            checkEq(4L, offsets.get(tp).offset(), "earliest after deleteRecords");
            checkEq(10L, admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get().get(tp).offset(), "latest");
            var max = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).all().get().get(tp);
            checkEq(7L, max.offset(), "offset of the max timestamp");
            checkEq(base + 50_000, max.timestamp(), "the max timestamp");
            checkEq(5L, admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base + 4500))).all().get().get(tp).offset(),
                    "by time");
            int node = Clients.nodeId(admin);
            var dirs = admin.describeLogDirs(List.of(node)).allDescriptions().get().get(node);
            checkEq(1, dirs.size(), "log dirs");
            var replica = dirs.values().iterator().next().replicaInfos().get(tp);
            check(replica != null && replica.size() > 0, "describeLogDirs has no size for the partition: " + replica);
            try (var c = Clients.consumer(ctx.bootstrap(), Map.of())) {
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                checkEq("v4", Clients.receive(c, 6, 30).get(0).value(), "the first record after deleteRecords");
            }
        }
    }

    static void groups(Main.Context ctx) throws Exception {
        var tp0 = new TopicPartition("admin-g", 0);
        var tp1 = new TopicPartition("admin-g", 1);
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, "admin-g", 2, Map.of());
            Groups.produce(ctx.bootstrap(), "admin-g", 2, 5, "g");
            try (var c = Clients.consumer(ctx.bootstrap(), Map.of("group.id", "g-admin", "client.id", "admin-member"))) {
                c.subscribe(List.of("admin-g"));
                Clients.receive(c, 10, 60);
                c.commitSync();
                var listed = new HashMap<String, GroupState>();
                admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get()
                        .forEach(g -> listed.put(g.groupId(), g.groupState().orElse(null)));
                checkEq(GroupState.STABLE, listed.get("g-admin"), "listed state");
                var d = admin.describeConsumerGroups(List.of("g-admin")).all().get().get("g-admin");
                checkEq(GroupState.STABLE, d.groupState(), "described state");
                checkEq("range", d.partitionAssignor(), "the chosen assignor (the first both members support)");
                checkEq(1, d.members().size(), "members");
                var m = d.members().iterator().next();
                checkEq("admin-member", m.clientId(), "member client id");
                checkEq(Set.of(tp0, tp1), m.assignment().topicPartitions(), "member assignment");
                checkEq(Clients.nodeId(admin), d.coordinator().id(), "coordinator");
                check(failure(() -> admin.deleteConsumerGroups(List.of("g-admin")).all()) instanceof GroupNotEmptyException,
                        "deleting a group with a member");
                admin.removeMembersFromConsumerGroup("g-admin", new RemoveMembersFromConsumerGroupOptions()).all().get();
            }
            var offsets = admin.listConsumerGroupOffsets("g-admin").partitionsToOffsetAndMetadata().get();
            checkEq(5L, offsets.get(tp0).offset(), "committed offset of partition 0");
            checkEq(5L, offsets.get(tp1).offset(), "committed offset of partition 1");
            checkEq(GroupState.EMPTY, admin.describeConsumerGroups(List.of("g-admin")).all().get().get("g-admin").groupState(),
                    "state after the member left");
            admin.alterConsumerGroupOffsets("g-admin", Map.of(tp0, new OffsetAndMetadata(2, "reset"))).all().get();
            admin.deleteConsumerGroupOffsets("g-admin", Set.of(tp1)).all().get();
            offsets = admin.listConsumerGroupOffsets("g-admin").partitionsToOffsetAndMetadata().get();
            checkEq(Set.of(tp0), offsets.keySet(),
                    "partitions with offsets after the alter and delete");
            checkEq(2L, offsets.get(tp0).offset(), "altered offset");
            checkEq("reset", offsets.get(tp0).metadata(), "altered metadata");
            try (var c = Clients.consumer(ctx.bootstrap(), Map.of("group.id", "g-admin"))) {
                c.subscribe(List.of("admin-g"));
                var got = Clients.receive(c, 8, 60);
                var seen = new HashSet<String>();
                got.forEach(r -> seen.add(r.partition() + "@" + r.offset()));
                checkEq(8, seen.size(), "records after the reset (3 + 5, each once)");
                check(seen.contains("0@2") && seen.contains("1@0"), "reset resumed at 0@2 and 1@0: " + seen);
            }
            admin.deleteConsumerGroups(List.of("g-admin")).all().get();
            var names = new HashSet<String>();
            admin.listGroups().all().get().forEach(g -> names.add(g.groupId()));
            check(!names.contains("g-admin"), "the deleted group is still listed");
        }
    }
}
