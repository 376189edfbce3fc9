//! The request path: a frame body (header and API body, any key and version) goes through
//! `decode_header` and `dispatch` into one in-process broker (ephemeral data directory) kept
//! across inputs, as a connection's requests would. No panic anywhere, in this task or in any
//! task a handler spawns (the panic hook aborts), and no request may keep the harness waiting
//! past a second (a long poll is left to finish on its own).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use brokk::RunningBroker;
use libfuzzer_sys::fuzz_target;

struct Harness {
    rt: tokio::runtime::Runtime,
    broker: RunningBroker,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic: {info}");
            std::process::abort();
        }));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let broker = rt.block_on(async {
            brokk::Broker::builder()
                .listen("127.0.0.1:0")
                .ephemeral()
                .set("group.initial.rebalance.delay.ms", "0")
                .start()
                .await
                .expect("broker starts")
        });
        Harness { rt, broker }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let broker = h.broker.broker().clone();
    let frame = bytes::Bytes::copy_from_slice(data);
    let peer = "127.0.0.1:1".parse().unwrap();
    h.rt.block_on(async move {
        let Ok(req) = brokk::server::codec::decode_header(frame) else { return };
        let task = tokio::spawn(async move {
            let _ = brokk::server::dispatch::dispatch(&broker, req, peer, "PLAINTEXT").await;
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    });
});
