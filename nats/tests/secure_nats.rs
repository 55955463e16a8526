//! The bundle against a real nats-server: TLS required, no anonymous or
//! plaintext access, each zone confined to its own names (core and
//! JetStream), and reissue/revoke applied by a reload.

mod support;

use async_nats::jetstream::{self, consumer, kv, stream};
use futures::StreamExt;
use outpost_nats::connect::ClientSecurity;
use outpost_nats::setup::{SetupSpec, reissue_zone, revoke_zone, setup};
use std::io::{Read, Write};
use std::time::Duration;
use support::{Client, DEADLINE, Deployment, serial, wait_for};

fn refused_kind(
    result: Result<Client, outpost_nats::ConnectError>,
) -> async_nats::ConnectErrorKind {
    match result {
        Ok(_) => panic!("connection accepted"),
        Err(outpost_nats::ConnectError::Connect { source, .. }) => source.kind(),
        Err(other) => panic!("refused before connecting: {other}"),
    }
}

#[tokio::test]
async fn coordinator_creates_streams_and_buckets_over_tls() {
    let _serial = serial().await;
    let d = Deployment::start(&["a"]).await;
    let coordinator = d.coordinator().await;
    let js = jetstream::new(coordinator.client.clone());
    js.create_stream(stream::Config {
        name: "OUTPOST_TASKS".into(),
        subjects: vec!["outpost.task.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        ..Default::default()
    })
    .await
    .expect("stream");
    let bucket = js
        .create_key_value(kv::Config {
            bucket: "outpost_leases".into(),
            ..Default::default()
        })
        .await
        .expect("bucket");
    bucket.put("a.t1", "x".into()).await.expect("put");
    assert_eq!(
        bucket.get("a.t1").await.expect("get").as_deref(),
        Some(&b"x"[..])
    );
    assert!(coordinator.client.server_info().tls_required);
}

#[tokio::test]
async fn anonymous_plaintext_and_foreign_ca_are_refused() {
    let _serial = serial().await;
    let d = Deployment::start(&["a"]).await;

    // TLS with the right CA but no identity (allowed by the client only
    // with `insecure`, which loopback permits): the server refuses.
    let anonymous = ClientSecurity {
        creds: None,
        ca: Some(d.paths.ca()),
        insecure: true,
    };
    let kind = refused_kind(Client::connect(&d.url(), &anonymous, None).await);
    assert_eq!(kind, async_nats::ConnectErrorKind::AuthorizationViolation);

    // Without `insecure` the client does not even try.
    let err = Client::connect(
        &d.url(),
        &ClientSecurity {
            insecure: false,
            ..anonymous
        },
        None,
    )
    .await
    .err()
    .expect("refused");
    assert!(
        matches!(err, outpost_nats::ConnectError::Insecure { .. }),
        "{err}"
    );

    // Plaintext: a client that answers the INFO with a CONNECT in clear
    // gets no PONG; the server drops it.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("tcp");
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut info = [0u8; 4096];
    let n = tcp.read(&mut info).expect("INFO");
    let info = String::from_utf8_lossy(&info[..n]).to_string();
    assert!(
        info.starts_with("INFO ") && info.contains("\"tls_required\":true"),
        "{info}"
    );
    tcp.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
        .expect("write");
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("PONG"), "plaintext client got {rest:?}");

    // A CA the server's certificate does not chain to.
    let other = tempfile::tempdir().unwrap();
    setup(
        &SetupSpec::new(vec!["a".into()], other.path().join("js")),
        other.path(),
    )
    .expect("other bundle");
    let foreign = ClientSecurity {
        creds: Some(d.creds("coordinator")),
        ca: Some(other.path().join("ca.pem")),
        insecure: false,
    };
    // async-nats reports a failed certificate check as an I/O error.
    match Client::connect(&d.url(), &foreign, None).await {
        Err(outpost_nats::ConnectError::Connect { source, .. }) => {
            assert!(
                source.to_string().contains("invalid peer certificate"),
                "{source}"
            );
        }
        Err(other) => panic!("refused before connecting: {other}"),
        Ok(_) => panic!("a foreign CA was accepted"),
    }
    // The coordinator's own CA works, so the refusal was the CA.
    d.coordinator().await;
}

#[tokio::test]
async fn a_zone_reaches_its_own_subjects_only() {
    let _serial = serial().await;
    let d = Deployment::start(&["a", "b"]).await;
    let coordinator = d.coordinator().await;
    let mut events = coordinator
        .client
        .subscribe("outpost.event.>")
        .await
        .unwrap();
    coordinator.client.flush().await.unwrap();
    let mut a = d.zone("a").await;

    a.client
        .publish("outpost.event.a.J1", "1".into())
        .await
        .unwrap();
    let got = tokio::time::timeout(DEADLINE, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject.as_str(), "outpost.event.a.J1");

    // Another zone's subject: refused, and not delivered (the marker sent
    // after it arrives first).
    a.client
        .publish("outpost.event.b.J1", "2".into())
        .await
        .unwrap();
    a.client
        .publish("outpost.event.a.MARK", "3".into())
        .await
        .unwrap();
    a.server_error("outpost.event.b.J1").await;
    let got = tokio::time::timeout(DEADLINE, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject.as_str(), "outpost.event.a.MARK");

    // No core subscription on tasks, nor on the shared inbox.
    let _tasks = a.client.subscribe("outpost.task.>").await.unwrap();
    a.server_error("outpost.task.>").await;
    let _inbox = a.client.subscribe("_INBOX.>").await.unwrap();
    a.server_error("_INBOX.>").await;

    // No stream or consumer administration.
    let js = jetstream::new(coordinator.client.clone());
    js.create_stream(stream::Config {
        name: "OUTPOST_TASKS".into(),
        subjects: vec!["outpost.task.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = a.client.clone();
    let create = tokio::spawn(async move {
        client
            .request(
                "$JS.API.STREAM.CREATE.X",
                r#"{"name":"X","subjects":["x.>"]}"#.into(),
            )
            .await
    });
    a.server_error("$JS.API.STREAM.CREATE.X").await;
    create.abort();
    assert!(js.get_stream("X").await.is_err(), "stream X exists");
    let client = a.client.clone();
    let create = tokio::spawn(async move {
        client
            .request(
                "$JS.API.CONSUMER.CREATE.OUTPOST_TASKS.evil",
                r#"{"stream_name":"OUTPOST_TASKS","config":{"name":"evil","ack_policy":"explicit"}}"#.into(),
            )
            .await
    });
    a.server_error("$JS.API.CONSUMER.CREATE.OUTPOST_TASKS.evil")
        .await;
    create.abort();
    let tasks = js.get_stream("OUTPOST_TASKS").await.unwrap();
    assert!(
        tasks.consumer_info("evil").await.is_err(),
        "consumer evil exists"
    );
}

/// Zone a's `diag.sleep` consumer, bound the way its workers bind it
/// (no stream info, no consumer creation).
async fn zone_a_consumer(zjs: &jetstream::Context) -> consumer::PullConsumer {
    zjs.get_stream_no_info("OUTPOST_TASKS")
        .await
        .expect("bind stream")
        .get_consumer("a_diag-sleep")
        .await
        .expect("bind consumer")
}

/// The coordinator's side: the tasks stream and zone a's diag.sleep consumer.
async fn tasks_for_zone_a(js: &jetstream::Context) {
    let tasks = js
        .create_stream(stream::Config {
            name: "OUTPOST_TASKS".into(),
            subjects: vec!["outpost.task.>".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .unwrap();
    tasks
        .create_consumer(consumer::pull::Config {
            durable_name: Some("a_diag-sleep".into()),
            filter_subject: "outpost.task.a.diag.sleep".into(),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_zone_worker_round_trip_through_its_permissions() {
    let _serial = serial().await;
    let d = Deployment::start(&["a", "b"]).await;
    let coordinator = d.coordinator().await;
    let js = jetstream::new(coordinator.client.clone());
    tasks_for_zone_a(&js).await;
    let leases = js
        .create_key_value(kv::Config {
            bucket: "outpost_leases".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    js.publish("outpost.task.a.diag.sleep", "task-1".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let mut a = d.zone("a").await;
    let zjs = jetstream::with_prefix(
        a.client.clone(),
        outpost_proto::layout::permissions::ZONE_JS_API_PREFIX,
    );
    let consumer = zone_a_consumer(&zjs).await;
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .expect("fetch");
    let msg = tokio::time::timeout(DEADLINE, batch.next())
        .await
        .unwrap()
        .expect("a task")
        .expect("a task");
    assert_eq!(&msg.payload[..], b"task-1");
    msg.double_ack().await.expect("ack");
    wait_for("the task to leave the work queue", || {
        let js = js.clone();
        async move {
            let info = js
                .get_stream("OUTPOST_TASKS")
                .await
                .ok()?
                .info()
                .await
                .ok()?
                .clone();
            (info.state.messages == 0).then_some(())
        }
    })
    .await;

    // A KV put the way a worker writes its lease, then a direct get.
    zjs.publish("$KV.outpost_leases.a.t1", "lease".into())
        .await
        .unwrap()
        .await
        .expect("PubAck");
    let reply = a
        .client
        .request(
            "JS.OUTPOST.API.DIRECT.GET.KV_outpost_leases.$KV.outpost_leases.a.t1",
            "".into(),
        )
        .await
        .expect("direct get");
    assert_eq!(&reply.payload[..], b"lease");
    assert_eq!(
        leases.get("a.t1").await.unwrap().as_deref(),
        Some(&b"lease"[..])
    );

    // The same on zone b's keys: refused, nothing written.
    let _ack = zjs
        .publish("$KV.outpost_leases.b.t1", "stolen".into())
        .await
        .unwrap();
    a.server_error("$KV.outpost_leases.b.t1").await;
    leases.put("b.t2", "b's".into()).await.unwrap();
    let client = a.client.clone();
    let get = tokio::spawn(async move {
        client
            .request(
                "JS.OUTPOST.API.DIRECT.GET.KV_outpost_leases.$KV.outpost_leases.b.t2",
                "".into(),
            )
            .await
    });
    a.server_error("JS.OUTPOST.API.DIRECT.GET.KV_outpost_leases.$KV.outpost_leases.b.t2")
        .await;
    get.abort();
    assert_eq!(leases.get("b.t1").await.unwrap(), None);
}

/// A worker's pull request waits before its tasks exist: each task
/// published afterwards reaches it once, across the zone's account.
#[tokio::test]
async fn a_waiting_pull_gets_tasks_published_later() {
    let _serial = serial().await;
    let d = Deployment::start(&["a"]).await;
    let coordinator = d.coordinator().await;
    let js = jetstream::new(coordinator.client.clone());
    tasks_for_zone_a(&js).await;
    let a = d.zone("a").await;
    let zjs = jetstream::with_prefix(
        a.client.clone(),
        outpost_proto::layout::permissions::ZONE_JS_API_PREFIX,
    );
    let consumer = zone_a_consumer(&zjs).await;
    let mut batch = consumer
        .batch()
        .max_messages(3)
        .expires(Duration::from_secs(20))
        .messages()
        .await
        .expect("pull");
    a.client.flush().await.unwrap();
    for n in 0..3 {
        js.publish("outpost.task.a.diag.sleep", format!("task-{n}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    for n in 0..3 {
        let msg = tokio::time::timeout(Duration::from_secs(10), batch.next())
            .await
            .unwrap_or_else(|_| panic!("task {n} did not arrive"))
            .expect("a task")
            .expect("a task");
        assert_eq!(msg.payload, format!("task-{n}").as_bytes());
        msg.ack().await.unwrap();
    }
}

#[tokio::test]
async fn reissue_and_revoke_take_effect_on_reload() {
    let _serial = serial().await;
    let d = Deployment::start(&["a", "b"]).await;
    let coordinator = d.coordinator().await;
    let mut events = coordinator
        .client
        .subscribe("outpost.event.>")
        .await
        .unwrap();
    coordinator.client.flush().await.unwrap();
    let mut a = d.zone("a").await;
    let mut b_old = d.zone("b").await;
    let a_creds = std::fs::read(d.creds("a")).unwrap();
    let old_b = d.tmp.path().join("old-b.creds");
    std::fs::copy(d.creds("b"), &old_b).unwrap();

    let report = reissue_zone(d.paths.dir(), "b").expect("reissue");
    assert!(report.server_line().unwrap().contains("reload"));
    assert_eq!(
        std::fs::read(d.creds("a")).unwrap(),
        a_creds,
        "zone a's creds changed"
    );
    d.reload();
    d.wait_reloaded(1).await;

    // The old key: refused on a new connection, and its open connection closed.
    let kind = refused_kind(d.zone_with("b", &old_b).await);
    assert_eq!(kind, async_nats::ConnectErrorKind::AuthorizationViolation);
    b_old.disconnected().await;
    let mut b_new = d.zone("b").await;
    b_new
        .client
        .publish("outpost.event.b.J1", "b".into())
        .await
        .unwrap();
    let got = tokio::time::timeout(DEADLINE, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject.as_str(), "outpost.event.b.J1");

    // Zone a's connection went on undisturbed.
    a.client
        .publish("outpost.event.a.J2", "a".into())
        .await
        .unwrap();
    let got = tokio::time::timeout(DEADLINE, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject.as_str(), "outpost.event.a.J2");
    assert!(!a.saw_disconnect(), "zone a was disconnected by the reload");

    // Revoke: the workers still hold the file the bundle deletes.
    let held_b = d.tmp.path().join("held-b.creds");
    std::fs::copy(d.creds("b"), &held_b).unwrap();
    let report = revoke_zone(d.paths.dir(), "b").expect("revoke");
    assert!(report.server_line().unwrap().contains("reload"));
    assert!(!d.creds("b").exists());
    assert_eq!(
        std::fs::read(d.creds("a")).unwrap(),
        a_creds,
        "zone a's creds changed"
    );
    d.reload();
    d.wait_reloaded(2).await;
    let kind = refused_kind(d.zone_with("b", &held_b).await);
    assert_eq!(kind, async_nats::ConnectErrorKind::AuthorizationViolation);
    b_new.disconnected().await;
    a.client
        .publish("outpost.event.a.J3", "a".into())
        .await
        .unwrap();
    let got = tokio::time::timeout(DEADLINE, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject.as_str(), "outpost.event.a.J3");
}
