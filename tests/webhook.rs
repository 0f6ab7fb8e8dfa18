//! The webhook target against a receiver that verifies every delivery.

mod support;

use support::copy_dir;

use std::path::{Path, PathBuf};

use support::webhook::Receiver;
use support::{Scratch, accord};

const KEY: &str = "a-test-signing-key-of-32-bytes!!";

/// The Danish example with its webhook extranet pointed at `url`.
fn aarhus(url: &str, dir: &Path) -> PathBuf {
    let root = dir.join("dk-aarhus");
    copy_dir(&support::examples().join("dk-aarhus"), &root);
    let f = root.join("integrations.yaml");
    std::fs::write(
        &f,
        std::fs::read_to_string(&f)
            .unwrap()
            .replace("https://omsorg.aarhus.dk/api/accord/v1/people", url),
    )
    .unwrap();
    let c = root.join("secrets/credentials.yaml");
    std::fs::write(
        &c,
        std::fs::read_to_string(&c)
            .unwrap()
            .replace("change-me-to-32-random-bytes", KEY),
    )
    .unwrap();
    root
}

fn apply(root: &Path, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "apply",
        "--today",
        "2026-11-22",
        "--target",
        "aarhus-extranet",
    ];
    args.extend_from_slice(extra);
    args.push(root.to_str().unwrap());
    accord(&args)
}

#[test]
fn deliveries_verify_and_the_receiver_converges() {
    let scratch = Scratch::new("webhook");
    let receiver = Receiver::start(KEY);
    let root = aarhus(&receiver.url(), &scratch.0);
    let first = apply(&root, &[]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    {
        let s = receiver.state.lock().unwrap();
        assert!(s.rejected.is_empty(), "{:?}", s.rejected);
        assert_eq!(
            s.people.len(),
            18,
            "every person incl. the expired one, as inactive"
        );
        let lars = &s.people["lars-andersen"];
        assert_eq!(lars["state"], "Active");
        assert_eq!(
            lars["features"],
            serde_json::json!(["documents", "messaging", "reports", "sickLeave"])
        );
        assert_eq!(
            lars["scopes"],
            serde_json::json!([
                "aarhus-lyngbo-afsnit-1",
                "aarhus-lyngbo-afsnit-2",
                "aarhus-plejecenter-lyngbo"
            ])
        );
        assert!(
            lars["nationalId"].as_str().is_some_and(|n| n.len() == 11),
            "the extranet gets the CPR number"
        );
        assert_eq!(s.people["kirsten-larsen"]["state"], "Expired");
    }
    // No national identity number in what accord printed.
    assert!(
        !first.stdout.contains(
            receiver.state.lock().unwrap().people["lars-andersen"]["nationalId"]
                .as_str()
                .unwrap()
        )
    );

    let again = apply(&root, &[]);
    assert!(
        again.stdout.contains("0 of 0 operations done, 0 writes"),
        "{}",
        again.stdout
    );

    // The receiver loses a person; the plan shows it, a full-state delivery repairs it.
    receiver.state.lock().unwrap().people.remove("lars-hansen");
    let plan = accord(&[
        "plan",
        "--today",
        "2026-11-22",
        "--target",
        "aarhus-extranet",
        root.to_str().unwrap(),
    ]);
    assert!(
        plan.stdout.contains("+ person lars-hansen"),
        "{}",
        plan.stdout
    );
    let full = apply(&root, &["--full-state"]);
    assert_eq!(full.code, 0, "{}", full.stdout);
    assert_eq!(receiver.state.lock().unwrap().people.len(), 18);

    // A deleted grant is deleted at the receiver.
    std::fs::remove_file(root.join("grants/henrik-olsen.yaml")).unwrap();
    assert_eq!(apply(&root, &[]).code, 0);
    assert!(
        !receiver
            .state
            .lock()
            .unwrap()
            .people
            .contains_key("henrik-olsen")
    );
    assert!(receiver.state.lock().unwrap().rejected.is_empty());
}

#[test]
fn tampered_replayed_and_stale_deliveries_are_rejected() {
    let receiver = Receiver::start(KEY);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    accord::connectors::http::crypto_provider();
    let client = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = br#"{"type":"person.upsert","person":{"id":"mallory","state":"Active","features":["reports"]}}"#;
    let send = |ts: u64, body: &[u8], sig: String, key: &str| {
        runtime
            .block_on(
                client
                    .post(receiver.url())
                    .header("Accord-Timestamp", ts.to_string())
                    .header("Accord-Signature", sig)
                    .header("Idempotency-Key", key)
                    .body(body.to_vec())
                    .send(),
            )
            .unwrap()
            .status()
            .as_u16()
    };
    let good = accord::connectors::webhook::sign(KEY.as_bytes(), now, body);
    // Tampered: the signature of another body.
    let tampered = br#"{"type":"person.upsert","person":{"id":"mallory","state":"Active","features":["employment"]}}"#;
    assert_eq!(send(now, tampered, good.clone(), "k1"), 401);
    // Signed with another key.
    assert_eq!(
        send(
            now,
            body,
            accord::connectors::webhook::sign(b"not-the-key-at-all-1234", now, body),
            "k2"
        ),
        401
    );
    // Stale: a valid signature over an old timestamp.
    let old = now - 3600;
    assert_eq!(
        send(
            old,
            body,
            accord::connectors::webhook::sign(KEY.as_bytes(), old, body),
            "k3"
        ),
        401
    );
    // The genuine delivery, then its replay.
    assert_eq!(send(now, body, good.clone(), "k4"), 200);
    assert_eq!(send(now, body, good, "k4"), 409);
    let s = receiver.state.lock().unwrap();
    assert_eq!(s.accepted, 1);
    assert_eq!(
        s.rejected,
        vec![
            "bad signature",
            "bad signature",
            "stale timestamp",
            "duplicate delivery"
        ]
    );
}
