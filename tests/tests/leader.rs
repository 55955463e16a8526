//! The coordinators' leader lease against a real nats-server: one holder
//! at a time, a standby takes over once a dead holder's entry lapses and
//! never while the old holder still counts itself leader, and every new
//! term's fencing token is larger than the last.

use anyhow::Result;
use async_nats::jetstream;
use outpost_coordinator::leader::{self, Holder, Lease, LeaseError};
use outpost_tests::nats::NatsServer;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

fn holder(id: &str) -> Holder {
    Holder {
        id: id.to_string(),
        api: format!("http://127.0.0.1:1/{id}"),
    }
}

#[tokio::test]
async fn one_leader_at_a_time_and_a_standby_takes_over_a_dead_one() -> Result<()> {
    let nats = NatsServer::start_insecure().await?;
    let js = jetstream::new(nats.client().await?);
    let ttl = leader::DEFAULT_TTL;
    let store = leader::open(&js, ttl, 1).await?;
    let (a, b) = (holder("a"), holder("b"));

    let mut lease_a = Lease::try_acquire(&store, &a, ttl).await?;
    assert!(matches!(
        Lease::try_acquire(&store, &b, ttl).await,
        Err(LeaseError::Taken)
    ));
    // While a renews, b cannot take over, however long it asks.
    for _ in 0..6 {
        tokio::time::sleep(lease_a.renew_every()).await;
        lease_a.renew().await?;
        assert!(lease_a.is_valid());
        assert!(matches!(
            Lease::try_acquire(&store, &b, ttl).await,
            Err(LeaseError::Taken)
        ));
    }
    assert_eq!(leader::current(&store).await?, Some(a.clone()));

    // a stops renewing (its process died); b waits for the lease.
    let died = Instant::now();
    let stop = CancellationToken::new();
    let lease_b = Lease::acquire(&store, &b, ttl, &stop)
        .await
        .expect("b takes the lease");
    let took = died.elapsed();
    assert!(
        !lease_a.is_valid(),
        "b became leader while a still counted itself leader"
    );
    assert!(lease_b.token() > lease_a.token());
    assert_eq!(leader::current(&store).await?, Some(b.clone()));
    println!("takeover {took:?} after the last renewal (ttl {ttl:?})");
    // a, back, finds itself deposed.
    assert!(lease_a.renew().await.is_err());

    // A clean shutdown hands over at once.
    let token_b = lease_b.token();
    lease_b.release().await;
    let lease_a = Lease::try_acquire(&store, &a, ttl).await?;
    assert!(lease_a.token() > token_b);
    Ok(())
}

/// Waits until nobody holds the lease (the entry lapsed).
async fn wait_lapsed(store: &jetstream::kv::Store) -> Result<()> {
    outpost_tests::wait_until(
        "the lease to lapse",
        std::time::Duration::from_secs(30),
        async || match leader::current(store).await {
            Ok(None) => Ok(()),
            Ok(Some(h)) => Err(format!("still held by {}", h.id)),
            Err(e) => Err(e.to_string()),
        },
    )
    .await
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_back_only_if_nobody_led_meanwhile() -> Result<()> {
    let nats = NatsServer::start_insecure().await?;
    let js = jetstream::new(nats.client().await?);
    let ttl = leader::DEFAULT_TTL;
    let store = leader::open(&js, ttl, 1).await?;
    let (a, b) = (holder("a"), holder("b"));

    // a stops renewing (as when NATS is out of reach) and its entry lapses;
    // nobody else took it: a takes it back and its fence opens again.
    let mut lease_a = Lease::try_acquire(&store, &a, ttl).await?;
    let fence = lease_a.fence();
    wait_lapsed(&store).await?;
    assert!(
        fence.check().is_err(),
        "the fence stayed open past the lease"
    );
    assert!(matches!(lease_a.renew().await, Err(LeaseError::Expired)));
    lease_a.regain().await?;
    assert!(fence.check().is_ok());
    assert_eq!(leader::current(&store).await?, Some(a.clone()));
    lease_a.renew().await?;

    // It lapses again, and this time b leads for a while and leaves: a
    // must not come back (its memory may miss what b did).
    wait_lapsed(&store).await?;
    let lease_b = Lease::try_acquire(&store, &b, ttl).await?;
    lease_b.release().await;
    assert!(matches!(lease_a.regain().await, Err(LeaseError::Taken)));
    assert!(fence.check().is_err());
    // And a's refusal leaves the lease free for the next standby at once.
    let lease_b = Lease::try_acquire(&store, &b, ttl).await?;
    assert!(lease_b.token() > lease_a.token());
    Ok(())
}
