// kafkajs scenarios against brokk. Each prints one line and exits 0, or prints FAIL and exits 1.
//
//   node scenarios.js codecs BOOTSTRAP      a producer per codec kafkajs can use, keyed records
//                                           with headers read back in order
//   node scenarios.js group BOOTSTRAP       two consumers in one group split 4 partitions; one
//                                           disconnects, the other takes all 4
//   node scenarios.js commit BOOTSTRAP      commitOffsets, fetchOffsets, a new member resumes
//   node scenarios.js times BOOTSTRAP       admin.fetchTopicOffsetsByTimestamp, fetchTopicOffsets
//   node scenarios.js admin BOOTSTRAP       topics, configs, partitions, records, groups
//   node scenarios.js idempotent BOOTSTRAP  idempotent: true
//   node scenarios.js txn BOOTSTRAP         commit, abort, sendOffsets; read_committed
'use strict'

const { Kafka, CompressionTypes, CompressionCodecs, logLevel, ConfigResourceTypes } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec

const [cmd, bootstrap] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'brokk-compat', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } })

function check (cond, msg) {
  if (!cond) throw new Error(msg)
}

async function createTopic (admin, topic, numPartitions, configEntries = []) {
  await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true })
}

// Reads `n` messages of `topic` from the beginning with a throwaway group (bounded).
async function readN (topic, n, opts = {}) {
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}`, ...opts })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(), 20000)
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, offset: Number(message.offset), key: message.key && message.key.toString(), value: message.value && message.value.toString(), headers: message.headers })
        if (got.length >= n) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  return got
}

async function codecs () {
  const admin = kafka.admin()
  await admin.connect()
  for (const [name, type] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP], ['snappy', CompressionTypes.Snappy]]) {
    const topic = `js-codec-${name}`
    await createTopic(admin, topic, 1)
    const producer = kafka.producer()
    await producer.connect()
    const messages = Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: `${name}-${i}`.repeat(20), headers: { h: `${i}` } }))
    for (let i = 0; i < 500; i += 100) {
      await producer.send({ topic, compression: type, messages: messages.slice(i, i + 100), acks: -1 })
    }
    await producer.disconnect()
    const got = await readN(topic, 500)
    check(got.length === 500, `${name}: ${got.length} of 500`)
    got.forEach((m, i) => {
      check(m.offset === i && m.key === `k${i}` && m.value === `${name}-${i}`.repeat(20) && m.headers.h.toString() === `${i}`, `${name}: record ${i}: ${JSON.stringify(m)}`)
    })
  }
  await admin.disconnect()
  console.log('500 keyed records with headers per codec (none, gzip, snappy) read back in order')
}

async function group () {
  const topic = 'js-group'
  const admin = kafka.admin()
  await admin.connect()
  await createTopic(admin, topic, 4)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 400 }, (_, i) => ({ value: `g${i}`, partition: i % 4 })) })
  await producer.disconnect()
  const assigned = {}
  const mk = (name) => {
    const c = kafka.consumer({ groupId: 'js-g', sessionTimeout: 6000, heartbeatInterval: 300, rebalanceTimeout: 10000 })
    c.on(c.events.GROUP_JOIN, (e) => { assigned[name] = (e.payload.memberAssignment[topic] || []).length })
    return c
  }
  const a = mk('a')
  const b = mk('b')
  for (const c of [a, b]) {
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({ eachMessage: async () => {} })
  }
  const until = async (cond, what) => {
    const deadline = Date.now() + 30000
    while (!cond() && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
    check(cond(), `${what}: ${JSON.stringify(assigned)}`)
  }
  await until(() => assigned.a === 2 && assigned.b === 2, 'split 2+2')
  await a.disconnect()
  await until(() => assigned.b === 4, 'survivor owns all 4')
  await b.disconnect()
  await admin.disconnect()
  console.log('two members split 4 partitions 2+2; after one leaves the other owns all 4')
}

async function commit () {
  const topic = 'js-commit'
  const admin = kafka.admin()
  await admin.connect()
  await createTopic(admin, topic, 1)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ value: `c${i}` })) })
  await producer.disconnect()
  const c = kafka.consumer({ groupId: 'js-c' })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  await new Promise((resolve) => {
    c.run({ autoCommit: false, eachMessage: async ({ message }) => { if (Number(message.offset) === 19) resolve() } })
  })
  await c.commitOffsets([{ topic, partition: 0, offset: '12' }])
  await c.disconnect()
  const offsets = await admin.fetchOffsets({ groupId: 'js-c', topics: [topic] })
  check(offsets[0].partitions[0].offset === '12', `fetchOffsets: ${JSON.stringify(offsets)}`)
  const d = kafka.consumer({ groupId: 'js-c' })
  await d.connect()
  await d.subscribe({ topic })
  const first = await new Promise((resolve) => {
    d.run({ eachMessage: async ({ message }) => resolve(Number(message.offset)) })
  })
  await d.disconnect()
  await admin.disconnect()
  check(first === 12, `resumed at ${first}`)
  console.log('commitOffsets(12), fetchOffsets = 12; a new member resumes at offset 12')
}

async function times () {
  const topic = 'js-times'
  const admin = kafka.admin()
  await admin.connect()
  await createTopic(admin, topic, 1)
  const base = Date.now() - 100000
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `t${i}`, timestamp: `${base + i * 1000}` })) })
  await producer.disconnect()
  const found = await admin.fetchTopicOffsetsByTimestamp(topic, base + 4500)
  check(found[0].offset === '5', `by timestamp: ${JSON.stringify(found)}`)
  const bounds = await admin.fetchTopicOffsets(topic)
  check(bounds[0].low === '0' && bounds[0].high === '10', `bounds: ${JSON.stringify(bounds)}`)
  await admin.disconnect()
  console.log('fetchTopicOffsetsByTimestamp and fetchTopicOffsets (low, high)')
}

async function admin () {
  const a = kafka.admin()
  await a.connect()
  const topic = 'js-admin'
  await createTopic(a, topic, 1, [{ name: 'retention.ms', value: '3600000' }])
  check((await a.listTopics()).includes(topic), 'listed')
  const md = await a.fetchTopicMetadata({ topics: [topic] })
  check(md.topics[0].partitions[0].leader === 0, `metadata: ${JSON.stringify(md)}`)
  const described = await a.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] })
  const entries = Object.fromEntries(described.resources[0].configEntries.map(e => [e.configName, e.configValue]))
  check(Object.keys(entries).length === 33 && entries['retention.ms'] === '3600000', `describeConfigs: ${Object.keys(entries).length}`)
  await a.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }] })
  const after = await a.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }] })
  check(after.resources[0].configEntries[0].configValue === '7200000', 'altered')
  await a.createPartitions({ topicPartitions: [{ topic, count: 3 }] })
  const md3 = await a.fetchTopicMetadata({ topics: [topic] })
  check(md3.topics[0].partitions.length === 3, 'grown to 3')
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${i}`, partition: 0 })) })
  await producer.disconnect()
  await a.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] })
  const offsets = await a.fetchTopicOffsets(topic)
  check(offsets.find(p => p.partition === 0).low === '4', `low watermark: ${JSON.stringify(offsets)}`)
  const c = kafka.consumer({ groupId: 'js-admin-g' })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  let seen = 0
  await c.run({ eachMessage: async () => { seen++ } })
  const deadline = Date.now() + 20000
  while (seen < 6 && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
  const groups = (await a.listGroups()).groups.map(g => g.groupId)
  check(groups.includes('js-admin-g'), `listGroups: ${groups}`)
  const dg = await a.describeGroups(['js-admin-g'])
  check(dg.groups[0].state === 'Stable' && dg.groups[0].members.length === 1, `describeGroups: ${JSON.stringify(dg.groups[0].state)}`)
  await c.disconnect()
  await a.deleteTopics({ topics: [topic] })
  check(!(await a.listTopics()).includes(topic), 'deleted')
  await a.disconnect()
  console.log('create/list/delete topics; describe (33) and alter configs; createPartitions; deleteTopicRecords; listGroups/describeGroups')
}

async function idempotent () {
  const topic = 'js-idem'
  const a = kafka.admin()
  await a.connect()
  await createTopic(a, topic, 1)
  await a.disconnect()
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (let i = 0; i < 2000; i += 200) {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 200 }, (_, j) => ({ value: `i${i + j}` })) })
  }
  await producer.disconnect()
  const got = await readN(topic, 2000)
  check(got.length === 2000 && got.every((m, i) => m.value === `i${i}` && m.offset === i), `once, in order: ${got.length}`)
  console.log('2000 records with idempotent: true, once each, in order')
}

async function txn () {
  const input = 'js-txn-in'
  const output = 'js-txn-out'
  const a = kafka.admin()
  await a.connect()
  await createTopic(a, input, 1)
  await createTopic(a, output, 1)
  const producer = kafka.producer({ transactionalId: 'js-tx', idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  let t = await producer.transaction()
  await t.send({ topic: output, messages: [{ value: 'committed-1' }] })
  await t.commit()
  t = await producer.transaction()
  await t.send({ topic: output, messages: [{ value: 'aborted' }] })
  await t.abort()
  t = await producer.transaction()
  await t.send({ topic: output, messages: [{ value: 'committed-2' }] })
  await t.sendOffsets({ consumerGroupId: 'js-txn-group', topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }] }] })
  await t.commit()
  await producer.disconnect()
  const got = await readN(output, 2, { readUncommitted: false })
  check(got.map(m => m.value).join() === 'committed-1,committed-2', `read_committed: ${got.map(m => m.value)}`)
  const offsets = await a.fetchOffsets({ groupId: 'js-txn-group', topics: [input] })
  check(offsets[0].partitions[0].offset === '5', `sendOffsets committed: ${JSON.stringify(offsets)}`)
  await a.disconnect()
  console.log('commit, abort, commit with sendOffsets: read_committed sees the two commits; the group offset is the transaction\'s')
}

const scenarios = { codecs, group, commit, times, admin, idempotent, txn }
const timer = setTimeout(() => { console.error(`FAIL: ${cmd} timed out`); process.exit(1) }, 120000)
scenarios[cmd]().then(() => { clearTimeout(timer); process.exit(0) }, (e) => {
  console.error(`FAIL: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
