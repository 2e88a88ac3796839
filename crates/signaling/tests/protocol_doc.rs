//! `docs/protocol.md` matches the code: every example in it parses, and every message type
//! the code knows has an example.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeSet;

use confab_signaling::protocol::{ClientMessage, ServerMessage, parse_client, parse_server};

fn examples(kind: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/protocol.md"
    ))
    .expect("docs/protocol.md");
    let fence = format!("```json {kind}");
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() == fence {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            out.push(body.join("\n"));
        }
    }
    out
}

#[test]
fn every_client_example_parses_and_every_type_has_one() {
    let mut seen = BTreeSet::new();
    for text in examples("client") {
        let envelope = parse_client(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        // Re-serialising gives the same message back.
        assert_eq!(parse_client(&envelope.to_json()).unwrap(), envelope);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        seen.insert(value["type"].as_str().unwrap().to_string());
    }
    let known: BTreeSet<String> = ClientMessage::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(seen, known);
}

#[test]
fn every_server_example_parses_and_every_type_has_one() {
    let mut seen = BTreeSet::new();
    for text in examples("server") {
        let envelope = parse_server(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        assert_eq!(parse_server(&envelope.to_json()).unwrap(), envelope);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        seen.insert(value["type"].as_str().unwrap().to_string());
    }
    let known: BTreeSet<String> = ServerMessage::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(seen, known);
}
