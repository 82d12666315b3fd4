//! Behaviour of grouping version 2 over the real SDK corpus and variations derived from it.

use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::digest::normalize::{NormalizeContext, normalize_event};

/// The corpus events (real SDK output, trimmed), by name.
const CORPUS: [(&str, &str); 53] = [
    (
        "node_aggregate_error",
        include_str!("fixtures/node_aggregate_error.json"),
    ),
    (
        "node_assert_error",
        include_str!("fixtures/node_assert_error.json"),
    ),
    (
        "node_bigint_mix",
        include_str!("fixtures/node_bigint_mix.json"),
    ),
    (
        "node_buffer_range",
        include_str!("fixtures/node_buffer_range.json"),
    ),
    (
        "node_capture_message",
        include_str!("fixtures/node_capture_message.json"),
    ),
    (
        "node_cause_chain",
        include_str!("fixtures/node_cause_chain.json"),
    ),
    (
        "node_class_method",
        include_str!("fixtures/node_class_method.json"),
    ),
    (
        "node_deep_recursion",
        include_str!("fixtures/node_deep_recursion.json"),
    ),
    (
        "node_deep_recursion_small",
        include_str!("fixtures/node_deep_recursion_small.json"),
    ),
    (
        "node_econnrefused",
        include_str!("fixtures/node_econnrefused.json"),
    ),
    (
        "node_emitter_listener",
        include_str!("fixtures/node_emitter_listener.json"),
    ),
    ("node_enoent", include_str!("fixtures/node_enoent.json")),
    (
        "node_express_get_cart",
        include_str!("fixtures/node_express_get_cart.json"),
    ),
    (
        "node_express_get_cart_2",
        include_str!("fixtures/node_express_get_cart_2.json"),
    ),
    (
        "node_express_post_checkout",
        include_str!("fixtures/node_express_post_checkout.json"),
    ),
    (
        "node_express_post_checkout_2",
        include_str!("fixtures/node_express_post_checkout_2.json"),
    ),
    (
        "node_fingerprinted",
        include_str!("fixtures/node_fingerprinted.json"),
    ),
    (
        "node_json_parse",
        include_str!("fixtures/node_json_parse.json"),
    ),
    (
        "node_missing_price",
        include_str!("fixtures/node_missing_price.json"),
    ),
    (
        "node_range_error",
        include_str!("fixtures/node_range_error.json"),
    ),
    (
        "node_reference_error",
        include_str!("fixtures/node_reference_error.json"),
    ),
    (
        "node_timer_error",
        include_str!("fixtures/node_timer_error.json"),
    ),
    (
        "node_undefined_property",
        include_str!("fixtures/node_undefined_property.json"),
    ),
    (
        "node_validate_order_type",
        include_str!("fixtures/node_validate_order_type.json"),
    ),
    (
        "node_validation_error",
        include_str!("fixtures/node_validation_error.json"),
    ),
    ("py_assertion", include_str!("fixtures/py_assertion.json")),
    (
        "py_asyncio_task",
        include_str!("fixtures/py_asyncio_task.json"),
    ),
    (
        "py_attribute_error",
        include_str!("fixtures/py_attribute_error.json"),
    ),
    (
        "py_capture_message_ids",
        include_str!("fixtures/py_capture_message_ids.json"),
    ),
    (
        "py_chained_payment",
        include_str!("fixtures/py_chained_payment.json"),
    ),
    (
        "py_deep_report_large",
        include_str!("fixtures/py_deep_report_large.json"),
    ),
    (
        "py_deep_report_small",
        include_str!("fixtures/py_deep_report_small.json"),
    ),
    (
        "py_exception_group",
        include_str!("fixtures/py_exception_group.json"),
    ),
    (
        "py_file_not_found",
        include_str!("fixtures/py_file_not_found.json"),
    ),
    (
        "py_fingerprinted",
        include_str!("fixtures/py_fingerprinted.json"),
    ),
    (
        "py_implicit_chain",
        include_str!("fixtures/py_implicit_chain.json"),
    ),
    (
        "py_index_error",
        include_str!("fixtures/py_index_error.json"),
    ),
    (
        "py_json_decode",
        include_str!("fixtures/py_json_decode.json"),
    ),
    (
        "py_key_error_discount",
        include_str!("fixtures/py_key_error_discount.json"),
    ),
    (
        "py_logging_error_message",
        include_str!("fixtures/py_logging_error_message.json"),
    ),
    (
        "py_logging_exception",
        include_str!("fixtures/py_logging_exception.json"),
    ),
    ("py_none_len", include_str!("fixtures/py_none_len.json")),
    (
        "py_not_implemented",
        include_str!("fixtures/py_not_implemented.json"),
    ),
    (
        "py_out_of_stock",
        include_str!("fixtures/py_out_of_stock.json"),
    ),
    (
        "py_permission_denied",
        include_str!("fixtures/py_permission_denied.json"),
    ),
    (
        "py_session_expired",
        include_str!("fixtures/py_session_expired.json"),
    ),
    (
        "py_thread_error",
        include_str!("fixtures/py_thread_error.json"),
    ),
    (
        "py_type_error_tax",
        include_str!("fixtures/py_type_error_tax.json"),
    ),
    (
        "py_unicode_decode",
        include_str!("fixtures/py_unicode_decode.json"),
    ),
    (
        "py_value_error_qty",
        include_str!("fixtures/py_value_error_qty.json"),
    ),
    (
        "py_wsgi_get_order",
        include_str!("fixtures/py_wsgi_get_order.json"),
    ),
    (
        "py_wsgi_post_checkout",
        include_str!("fixtures/py_wsgi_post_checkout.json"),
    ),
    (
        "py_zero_division",
        include_str!("fixtures/py_zero_division.json"),
    ),
];

fn raw_fixture(name: &str) -> Value {
    let (_, text) = CORPUS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Normalizes an event the way the digest does before grouping.
fn normalized(raw: Value) -> Value {
    let context = NormalizeContext {
        envelope_event_id: None,
        received_at: Utc::now(),
        sent_at: None,
        client_ip: None,
    };
    normalize_event(raw, &context).expect("normalizes").payload
}

fn fixture(name: &str) -> Value {
    normalized(raw_fixture(name))
}

/// `group_event` hashes recorded from the version 1 implementation before version 2 existed.
const V1_CORPUS_HASHES: [(&str, &str); 53] = [
    (
        "node_aggregate_error",
        "2efbf1747d4e173f6ade33a0f6df425e2a4c48427055bbdc50a976ff754a17fc",
    ),
    (
        "node_assert_error",
        "73b3447695cb6d84346603df3276a6538b3be4d7aa30f1d1868a5fae67e37583",
    ),
    (
        "node_bigint_mix",
        "a00d60f92ba4edc4fe19694d2418382527c8a87d3e7866ccc7e5bb7445b654ed",
    ),
    (
        "node_buffer_range",
        "ad8a5a72fe2211e544c4e390a73485340d9f41e1be9ee89e78e48cba23f07484",
    ),
    (
        "node_capture_message",
        "3e336d3ad14c393707dfb63d33b17bcf21b0cc22daddd5d0ace9e07ab251f2ed",
    ),
    (
        "node_cause_chain",
        "c3177fc62b0143c7057fbdfeed9c79b1a7df59bf49c8667ac607b2da11d23ac2",
    ),
    (
        "node_class_method",
        "837a06ce09c4d36708e070b3d1187b7ebb334edef1b720cefa1734acd0aeaa70",
    ),
    (
        "node_deep_recursion",
        "da69b822742ee5db059482abead1f906e5c61eae387803d8c46ee5d9967f3ce3",
    ),
    (
        "node_deep_recursion_small",
        "7db0fde46aea2a1562250d8d1a9a5631ccb0d91dfa8ad59ca309dd37bf073e33",
    ),
    (
        "node_econnrefused",
        "c3bffc336081b2ca602b87f98aa4dd72faa8782a02f8ff8f2d3688dcb94a06ec",
    ),
    (
        "node_emitter_listener",
        "ff1add78f4c79ff1b57d07ac3da8917d2beeff4eedc4895a247074ad9c45432b",
    ),
    (
        "node_enoent",
        "496806e8ed6058d1df28e2911729251700210fd7cc88ad3e45e9362e69f32e75",
    ),
    (
        "node_express_get_cart",
        "d5c1982a53452e07c1a42d856dc3d3c942971e39164ffd2df85f79ef5185a616",
    ),
    (
        "node_express_get_cart_2",
        "d5c1982a53452e07c1a42d856dc3d3c942971e39164ffd2df85f79ef5185a616",
    ),
    (
        "node_express_post_checkout",
        "9fc923cf8a49f529b1466fbb2b940b19e8bd923be1f9b57c359fbdbcbde6b139",
    ),
    (
        "node_express_post_checkout_2",
        "9fc923cf8a49f529b1466fbb2b940b19e8bd923be1f9b57c359fbdbcbde6b139",
    ),
    (
        "node_fingerprinted",
        "066c05a5072fffc73e1ec4cdbd2b6b87c8774c4f16185fdadf711c272c7ba014",
    ),
    (
        "node_json_parse",
        "5f0121062a037a59858e6e92c55314639670132b9ff74d8c2317cfe86f771536",
    ),
    (
        "node_missing_price",
        "a5732700dc3f9e7372bf2fcdc5a895323de88cd830ffeee0907679f843e4d87a",
    ),
    (
        "node_range_error",
        "94fd9589766536ebf550fa7f6f1f5aeb7d0ba7eecde0d5a29d99099ab525bf04",
    ),
    (
        "node_reference_error",
        "e47801f4abdd98523cc7790ef8acfe25709089c5e64f4cf4ff30dc59352aae67",
    ),
    (
        "node_timer_error",
        "38c04f2b2679de57fde0262d45928ffba8f75e64565ab58571935458434792d2",
    ),
    (
        "node_undefined_property",
        "153224b978f66c5402e859bb2ffac19192f931b2c553375986e29a87fff38558",
    ),
    (
        "node_validate_order_type",
        "e13d2360c6069ed742e41885612c9b0ff6a0a0bac0fe96086f8a9bbf68fe8c97",
    ),
    (
        "node_validation_error",
        "7ef493d3be1393b9c81eec0789a4f4824a550f3c5f3b7d5a777aa6da33aae8ea",
    ),
    (
        "py_assertion",
        "1efbc9f599bb2c9314776f67c826f3815d90fa8759cfe4315d5788f41de41b40",
    ),
    (
        "py_asyncio_task",
        "0ac5c9dd1bbf787dd4507c439ede1e4bf50691ff46755886e104a9281a91a083",
    ),
    (
        "py_attribute_error",
        "e65330fe41b5dc0b4f2b30dcf4b85e197e6fa816d779fbc0f4064d08ad989ecd",
    ),
    (
        "py_capture_message_ids",
        "398f7b75d78465ea9a5102e57406d66296754aeeafdc6cb35ee6738833317b3c",
    ),
    (
        "py_chained_payment",
        "e965e743af722b1642d4f942d7c9d6f398d73e6376fe844d4250aabfe2d4ffe5",
    ),
    (
        "py_deep_report_large",
        "300e7d6de057d9b5e93ac1379bb84041059c6afa461d04ec5180a477ecb80b38",
    ),
    (
        "py_deep_report_small",
        "300e7d6de057d9b5e93ac1379bb84041059c6afa461d04ec5180a477ecb80b38",
    ),
    (
        "py_exception_group",
        "05f2701573dd8a67a33116151b64f884636d9c7ab3e7d2fbe35e5b6ee7436eef",
    ),
    (
        "py_file_not_found",
        "6115b00a7d678b18706fa9240eb7919794adc51a203cff0bc66bd53520204cd7",
    ),
    (
        "py_fingerprinted",
        "f46231658fd7fcca3fd6862f4c9bf9c37140901d6c51ec516e2bbe98a1358810",
    ),
    (
        "py_implicit_chain",
        "f8630ce9532027d7a6275758ff25396f22e52887061672fd7b8cc915f8c870d6",
    ),
    (
        "py_index_error",
        "843e7457cb796ef21d9c45c5c1519b8c3a2d15e816d6c257ccd12fdd6f2ba79d",
    ),
    (
        "py_json_decode",
        "413919aae4bbb902fec3dd04cd571a53780f709a2e31bc8b599ad9e8b885c775",
    ),
    (
        "py_key_error_discount",
        "dab4af3f33aa122f52541fee91605e0153f1a8c91f7f6f70840d8c1c2c0548a3",
    ),
    (
        "py_logging_error_message",
        "0e824f4b1fcaca6b9569e3d7fa357b0109e813e97824f8fc5282feafc8590962",
    ),
    (
        "py_logging_exception",
        "ebe9facafc22a4d565636328267c935f7c44ec633194c359db36f76d18f68fb1",
    ),
    (
        "py_none_len",
        "7cbfe2d027526d1a4e0e37cdbb8a2d7355135ab7532960ca3173e1953435c9f5",
    ),
    (
        "py_not_implemented",
        "2f1eb36000bf1edd4cb4afde2d68ebc2152b2c407c6a368c9347c77633c1366c",
    ),
    (
        "py_out_of_stock",
        "8e7f0300332e1b60ed10c70c7b430aa508669a583a22dcf538718b81c2b53cfe",
    ),
    (
        "py_permission_denied",
        "ad0f84f68795618b1dc6d18de38f1364c74c984fa1f06fd1d9feeeafff8af302",
    ),
    (
        "py_session_expired",
        "7f72e4b8dad9edf4a0ae986c21f9bd27613a185264f15509266b1d3979f63294",
    ),
    (
        "py_thread_error",
        "5dad38d045c89c678cf4475bdbf41dbee4f02bb30232d7e98244b88d93acdf39",
    ),
    (
        "py_type_error_tax",
        "5df3374c2709202cd4d3bd7bc25c1dda82d0cc34e65ebf9d40a155a281da1b47",
    ),
    (
        "py_unicode_decode",
        "9deda422927b873a876080a496aaf5fe394c8b39b97b3a75dda72fc3e4247e02",
    ),
    (
        "py_value_error_qty",
        "01af74b17d87e80fd4e51e219d2f0cbd30476232539f8fdca6d1cd81a298391f",
    ),
    (
        "py_wsgi_get_order",
        "77e88df8a94746c2421342156269ee15066844fd3fb7feeb209b1a7cdf2e6388",
    ),
    (
        "py_wsgi_post_checkout",
        "753195817a1bb5fc1a4fd41e93da178fe4909f693e0b67b0e9f4d018060e4a23",
    ),
    (
        "py_zero_division",
        "0ad0026ef4c15d54c0e92e55b76736e8d4ab76e9ae1da3be4c61f35917023b6f",
    ),
];

/// `group_event` hashes of hand-made events, recorded from version 1 before version 2 existed.
const V1_OTHER_HASHES: [(&str, &str); 5] = [
    (
        "message",
        "0d6c1f040bdb199c577be6c87bb290d7224f4bb0a47caf496adcda9e619690d3",
    ),
    (
        "title",
        "47b1b17227b9d8b2b0f61586a8f568bdfeb6a9005a5e8e328bb914f90e0595db",
    ),
    (
        "empty",
        "9a48d63302582568af233726535a4935452a937961cddc994957ecda5aa30c4d",
    ),
    (
        "exception_without_frames",
        "09bc66aba14808bf6a47f1612631fd7a68555ec335c1800288f2685b4bce6af7",
    ),
    (
        "fingerprint",
        "8e199ea7615dc5c117ba956bcd460d3597efc199674d8b2476d12368f09c1279",
    ),
];

fn v1_other_event(name: &str) -> Value {
    match name {
        "message" => {
            json!({"logentry": {"message": "user %s failed", "formatted": "user 1 failed"}})
        }
        "title" => json!({"title": "x"}),
        "exception_without_frames" => {
            json!({"exception": {"values": [{"type": "TimeoutError", "value": "after 30 s"}]}})
        }
        "fingerprint" => {
            json!({"fingerprint": ["payments", 42, "{{ default }}"], "message": "hello 5"})
        }
        _ => json!({}),
    }
}

/// Asserts that two events land in the same issue (`together`) or in different ones.
fn check(a: &Value, b: &Value, together: bool) {
    check_with(a, b, &GroupingConfig::default(), together);
}

fn check_with(a: &Value, b: &Value, config: &GroupingConfig, together: bool) {
    let (ga, gb) = (group_event_with(a, config), group_event_with(b, config));
    assert_eq!(
        ga.hash == gb.hash,
        together,
        "expected {}\n  a: {}\n  b: {}",
        if together { "together" } else { "apart" },
        ga.components,
        gb.components
    );
}

/// A copy of `event` changed by `change`.
fn edit(event: &Value, change: impl FnOnce(&mut Value)) -> Value {
    let mut copy = event.clone();
    change(&mut copy);
    copy
}

/// Applies `change` to every frame of every exception.
fn each_frame(event: &mut Value, mut change: impl FnMut(&mut Value)) {
    let exceptions = event
        .pointer_mut("/exception/values")
        .and_then(Value::as_array_mut)
        .expect("exceptions");
    for exception in exceptions {
        if let Some(frames) = exception
            .pointer_mut("/stacktrace/frames")
            .and_then(Value::as_array_mut)
        {
            frames.iter_mut().for_each(&mut change);
        }
    }
}

fn frames(event: &mut Value, exception: usize) -> &mut Vec<Value> {
    event
        .pointer_mut(&format!("/exception/values/{exception}/stacktrace/frames"))
        .and_then(Value::as_array_mut)
        .expect("frames")
}

fn rules(text: &str) -> GroupingConfig {
    GroupingConfig {
        rules: FingerprintRules::parse(text).expect("rules parse"),
    }
}

// ---- The corpus -----------------------------------------------------------------------------

#[test]
fn corpus_duplicates_group_together_and_everything_else_apart() {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, _) in CORPUS {
        let hash = group_event(&fixture(name)).hash;
        match groups.iter_mut().find(|(h, _)| *h == hash) {
            Some((_, names)) => names.push(name),
            None => groups.push((hash, vec![name])),
        }
    }
    let merged: Vec<Vec<&str>> = groups
        .into_iter()
        .map(|(_, names)| names)
        .filter(|names| names.len() > 1)
        .collect();
    assert_eq!(
        merged,
        [
            vec!["node_express_get_cart", "node_express_get_cart_2"],
            vec!["node_express_post_checkout", "node_express_post_checkout_2"],
        ]
    );
}

#[test]
fn corpus_strategies() {
    let kind = |name: &str| group_event(&fixture(name)).components["kind"].clone();
    assert_eq!(kind("py_zero_division"), "exception_stacktrace");
    assert_eq!(kind("node_cause_chain"), "exception_stacktrace");
    assert_eq!(kind("py_capture_message_ids"), "message");
    assert_eq!(kind("py_logging_error_message"), "message");
    assert_eq!(kind("node_fingerprinted"), "fingerprint");
    assert_eq!(kind("py_fingerprinted"), "fingerprint");
    // Every exception of a chain contributes.
    let chain = group_event(&fixture("node_cause_chain")).components;
    let types: Vec<&Value> = chain["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| &v["type"])
        .collect();
    assert_eq!(
        types,
        [
            &json!("Error"),
            &json!("Error"),
            &json!("PaymentDeclinedError")
        ]
    );
}

#[test]
fn every_result_is_version_2_with_a_sha256_hash() {
    for (name, _) in CORPUS {
        let grouping = group_event(&fixture(name));
        assert_eq!(grouping.version, GROUPING_VERSION);
        assert_eq!(grouping.version, 2);
        assert_eq!(grouping.hash.len(), 64, "{name}");
        assert!(
            grouping
                .hash
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(grouping.title_override, None);
    }
}

// ---- Version 1 and the transition -----------------------------------------------------------

#[test]
fn version_1_hashes_are_unchanged() {
    for (name, hash) in V1_CORPUS_HASHES {
        let grouping = group_event_v1(&raw_fixture(name));
        assert_eq!(grouping.hash, hash, "{name}");
        assert_eq!(grouping.version, 1);
        assert_eq!(grouping.title_override, None);
    }
    for (name, hash) in V1_OTHER_HASHES {
        assert_eq!(group_event_v1(&v1_other_event(name)).hash, hash, "{name}");
    }
}

#[test]
fn transition_hashes_are_the_version_1_hashes() {
    for (name, hash) in V1_CORPUS_HASHES.iter().take(5) {
        assert_eq!(
            transition_hashes(&raw_fixture(name)),
            [(1, (*hash).to_owned())]
        );
    }
    let event = fixture("py_zero_division");
    assert_ne!(transition_hashes(&event)[0].1, group_event(&event).hash);
}

// ---- The same bug groups together ------------------------------------------------------------

#[test]
fn shifted_line_numbers_group_together() {
    for name in [
        "py_zero_division",
        "node_cause_chain",
        "node_express_get_cart",
    ] {
        let event = fixture(name);
        let shifted = edit(&event, |e| {
            each_frame(e, |f| {
                if let Some(line) = f["lineno"].as_i64() {
                    f["lineno"] = json!(line + 7);
                }
                f["colno"] = json!(99);
            });
        });
        check(&event, &shifted, true);
    }
}

#[test]
fn different_deploy_paths_group_together() {
    let python = fixture("py_zero_division");
    let moved = edit(&python, |e| {
        each_frame(e, |f| {
            if let Some(path) = f["abs_path"].as_str() {
                f["abs_path"] = json!(path.replace("/srv/shop/py/", "/home/deploy/releases/42/"));
            }
        });
    });
    check(&python, &moved, true);
    let node = fixture("node_bigint_mix");
    let moved = edit(&node, |e| {
        each_frame(e, |f| {
            if let Some(path) = f["filename"].as_str() {
                f["filename"] = json!(path.replace("/srv/shop/node/", "/home/deploy/releases/42/"));
            }
        });
    });
    check(&node, &moved, true);
    // Without modules, the file's basename stands in, never its directory.
    let at = |path: &str| {
        normalized(
            json!({"platform": "python", "exception": {"values": [{"type": "KeyError", "value": "'x'",
            "stacktrace": {"frames": [{"abs_path": path, "filename": path, "function": "apply", "context_line": "return rates[code]"}]}}]}}),
        )
    };
    check(
        &at("/srv/shop/app/x.py"),
        &at("/home/deploy/releases/42/app/x.py"),
        true,
    );
    check(&at("/srv/shop/app/x.py"), &at("/srv/shop/app/y.py"), false);
}

#[test]
fn releases_hosts_users_and_ids_do_not_matter() {
    for name in [
        "py_zero_division",
        "node_express_post_checkout",
        "py_capture_message_ids",
    ] {
        let event = fixture(name);
        let elsewhere = edit(&event, |e| {
            e["event_id"] = json!("0123456789abcdef0123456789abcdef");
            e["release"] = json!("shop@9.9.9");
            e["environment"] = json!("staging");
            e["server_name"] = json!("web-77");
            e["user"] =
                json!({"id": "u-999", "email": "someone@else.io", "ip_address": "10.9.8.7"});
            e["tags"] = json!([["region", "us-east-1"], ["tenant", "tenant-2"]]);
            e["timestamp"] = json!(1_900_000_000.0);
            e["breadcrumbs"] = json!({"values": []});
        });
        check(&event, &elsewhere, true);
    }
}

#[test]
fn ids_numbers_emails_and_uuids_in_messages_group_together() {
    let event = fixture("py_capture_message_ids");
    let other_user = edit(&event, |e| {
        e["message"] = json!("User 12 failed login from 10.1.2.3 (attempt 1)");
    });
    check(&event, &other_user, true);
    let other_words = edit(&event, |e| {
        e["message"] = json!("User 12 failed checkout from 10.1.2.3 (attempt 1)");
    });
    check(&event, &other_words, false);

    let message = |text: &str| normalized(json!({"platform": "python", "message": text}));
    check(
        &message(
            "reset for jane@shop.com token 3f2b8c1e-9d4a-4c7b-8e21-5a6f7b8c9d0e at 2026-11-23T10:00:00Z",
        ),
        &message(
            "reset for bob@mail.org token 00000000-1111-2222-3333-444444444444 at 2027-01-02T03:04:05Z",
        ),
        true,
    );
    check(
        &message("GET https://api.shop.io/orders/17 took 350ms (0x7f3a, 1.5)"),
        &message("GET http://10.0.0.3/orders/99?x=1 took 9ms (0xdead, 22.75)"),
        true,
    );

    // A synthetic exception (Node's captureMessage) is the message: its numbers do not split it.
    let captured = fixture("node_capture_message");
    let later = edit(&captured, |e| {
        e["exception"]["values"][0]["value"] =
            json!("Order 1 stuck in state PENDING for 3 minutes");
        e["message"] = json!("Order 1 stuck in state PENDING for 3 minutes");
    });
    check(&captured, &later, true);
    let other_state = edit(&captured, |e| {
        e["exception"]["values"][0]["value"] = json!("Order 1 stuck in state PAID for 3 minutes");
    });
    check(&captured, &other_state, false);

    // Without frames, the parameterized value decides.
    let no_frames = |value: &str| {
        edit(&fixture("py_session_expired"), |e| {
            e["exception"]["values"][0]["stacktrace"] = Value::Null;
            e["exception"]["values"][0]["value"] = json!(value);
        })
    };
    check(
        &no_frames("session abcdef12 expired 7956s ago"),
        &no_frames("session abcdef12 expired 1236s ago"),
        true,
    );
    check(
        &no_frames("order 17 not found"),
        &no_frames("order 4242 not found"),
        true,
    );
    check(
        &no_frames("order 17 not found"),
        &no_frames("invoice 17 not found"),
        false,
    );
}

#[test]
fn exception_values_do_not_matter_when_app_frames_decide() {
    let event = fixture("py_key_error_discount");
    let other_code = edit(&event, |e| {
        e["exception"]["values"][0]["value"] = json!("'WINTER10'")
    });
    check(&event, &other_code, true);
}

#[test]
fn recursion_depth_does_not_split() {
    for (name, keep) in [("py_deep_report_small", 5), ("py_deep_report_large", 12)] {
        let event = fixture(name);
        let shallower = edit(&event, |e| {
            let frames = frames(e, 0);
            // Drop recursive render_section frames (they sit between build_report and the last).
            let first = frames
                .iter()
                .position(|f| f["function"] == "render_section")
                .expect("recursive frames");
            let last = frames.len() - 1;
            let drop = (last - first).saturating_sub(keep);
            frames.drain(first..first + drop);
        });
        check(&event, &shallower, true);
    }
    let node = fixture("node_deep_recursion");
    let shallower = edit(&node, |e| {
        frames(e, 0).drain(0..4);
    });
    check(&node, &shallower, true);
    let components = group_event(&node).components;
    assert_eq!(components["values"][0]["skipped"]["recursion"], 8);
}

#[test]
fn library_frames_do_not_count_when_app_frames_exist() {
    let event = fixture("py_json_decode");
    let other_python = edit(&event, |e| {
        each_frame(e, |f| {
            if f["abs_path"]
                .as_str()
                .is_some_and(|p| p.contains("/lib/python3.11/"))
            {
                f["abs_path"] = json!(
                    f["abs_path"]
                        .as_str()
                        .map(|p| p.replace("3.11.7/lib/python3.11", "3.12.1/lib/python3.12"))
                );
                f["function"] = json!("decode_v2");
                f["context_line"] = json!("return self.scan(s)");
            }
        });
    });
    check(&event, &other_python, true);
    let express = fixture("node_express_get_cart");
    let other_router = edit(&express, |e| {
        frames(e, 0).retain(|f| f["in_app"] == json!(true) || f["module"] == "router.lib:layer");
    });
    check(&express, &other_router, true);
}

#[test]
fn explicit_in_app_flags_and_heuristics_agree() {
    let event = fixture("py_json_decode");
    let flagged = edit(&event, |e| {
        each_frame(e, |f| {
            let library = f["abs_path"]
                .as_str()
                .is_some_and(|p| p.contains("/lib/python"));
            f["in_app"] = json!(!library);
        });
    });
    check(&event, &flagged, true);
}

#[test]
fn sdk_frames_never_count() {
    let event = fixture("py_zero_division");
    let with_sdk = edit(&event, |e| {
        frames(e, 0).push(
            json!({"module": "sentry_sdk.integrations.threading", "function": "run",
            "abs_path": "/srv/shop/py/.venv/sentry_sdk/integrations/threading.py", "in_app": true,
            "context_line": "return old_run(*a, **kw)"}),
        );
    });
    check(&event, &with_sdk, true);
}

#[test]
fn context_line_whitespace_does_not_matter() {
    let event = fixture("py_type_error_tax");
    let reindented = edit(&event, |e| {
        each_frame(e, |f| {
            if let Some(line) = f["context_line"].as_str() {
                f["context_line"] = json!(format!("\t\t{}  ", line.replace(' ', "  ")));
            }
        });
    });
    check(&event, &reindented, true);
}

#[test]
fn repeated_identical_exceptions_count_once() {
    let event = fixture("node_aggregate_error");
    let three_replicas = edit(&event, |e| {
        let values = e["exception"]["values"].as_array_mut().expect("values");
        let mut third = values[0].clone();
        third["value"] = json!("replica db-3 unavailable");
        values.insert(0, third);
    });
    check(&event, &three_replicas, true);
    assert_eq!(
        group_event(&three_replicas).components["duplicate_exceptions"],
        2
    );
}

#[test]
fn builds_of_compiled_languages_group_together() {
    let rust = |closure: &str, hash: &str, line: i64| {
        normalized(
            json!({"platform": "native", "exception": {"values": [{"type": "panic", "value": "called `Option::unwrap()` on a `None` value",
            "stacktrace": {"frames": [
                {"function": "std::rt::lang_start", "abs_path": "/rustc/aaaa/library/std/src/rt.rs", "lineno": 1},
                {"function": format!("shop::main::{hash}"), "abs_path": "/build/src/main.rs", "lineno": line},
                {"function": format!("shop::cart::apply::{closure}"), "abs_path": "/build/src/cart.rs", "lineno": line + 3},
                {"function": "core::option::unwrap_failed", "abs_path": "/rustc/bbbb/library/core/src/option.rs", "lineno": 9},
                {"function": "sentry_core::hub::Hub::capture_event", "lineno": 1}
            ]}}]}}),
        )
    };
    check(
        &rust("{{closure}}", "h0123456789abcdef", 10),
        &rust("{closure#0}", "hfedcba9876543210", 40),
        true,
    );
    let java = |proxy: &str, lambda: &str| {
        normalized(
            json!({"platform": "java", "exception": {"values": [{"type": "java.lang.IllegalStateException", "value": "closed",
            "stacktrace": {"frames": [
                {"module": "java.lang.Thread", "function": "run"},
                {"module": format!("com.shop.Checkout$$EnhancerBySpringCGLIB$${proxy}"), "function": "pay"},
                {"module": "com.shop.Checkout", "function": lambda},
                {"module": "com.shop.Gateway", "function": "send"}
            ]}}]}}),
        )
    };
    check(
        &java("a1b2c3", "lambda$pay$0"),
        &java("ff00ee", "lambda$pay$3"),
        true,
    );
}

// ---- Different bugs stay apart ---------------------------------------------------------------

#[test]
fn different_exception_types_from_one_line_stay_apart() {
    for name in [
        "py_zero_division",
        "node_express_get_cart",
        "node_cause_chain",
    ] {
        let event = fixture(name);
        let retyped = edit(&event, |e| {
            let values = e["exception"]["values"].as_array_mut().expect("values");
            let last = values.len() - 1;
            values[last]["type"] = json!("SomethingElseError");
        });
        check(&event, &retyped, false);
    }
}

#[test]
fn different_call_sites_of_one_helper_stay_apart() {
    // The corpus throws from one helper reached from two places.
    for (a, b) in [
        ("py_zero_division", "py_thread_error"),
        ("py_key_error_discount", "py_wsgi_post_checkout"),
        ("py_index_error", "py_implicit_chain"),
        ("py_chained_payment", "py_wsgi_get_order"),
        ("node_cause_chain", "node_express_post_checkout"),
        ("node_json_parse", "node_timer_error"),
        ("py_deep_report_small", "py_deep_report_large"),
    ] {
        check(&fixture(a), &fixture(b), false);
    }
    let event = fixture("py_zero_division");
    let other_caller = edit(&event, |e| {
        let frames = frames(e, 0);
        frames[2]["function"] = json!("process_refund");
        frames[2]["context_line"] = json!("summary = refund_summary(invoice)");
    });
    check(&event, &other_caller, false);
}

#[test]
fn a_log_message_and_an_exception_with_the_same_text_stay_apart() {
    let message = normalized(json!({"platform": "python", "message": "division by zero"}));
    let exception = normalized(
        json!({"platform": "python", "exception": {"values": [{"type": "ZeroDivisionError", "value": "division by zero"}]}}),
    );
    let untyped = normalized(
        json!({"platform": "python", "exception": {"values": [{"value": "division by zero"}]}}),
    );
    check(&message, &exception, false);
    check(&message, &untyped, false);
    let logged = fixture("py_logging_error_message");
    let raised = normalized(
        json!({"platform": "python", "exception": {"values": [{"value": "payment webhook %s returned status %d after %dms"}]}}),
    );
    check(&logged, &raised, false);
}

#[test]
fn a_different_cause_in_the_chain_stays_apart() {
    let event = fixture("node_cause_chain");
    let other_cause = edit(&event, |e| {
        e["exception"]["values"][0]["type"] = json!("TypeError")
    });
    check(&event, &other_cause, false);
    let no_cause = edit(&event, |e| {
        e["exception"]["values"]
            .as_array_mut()
            .expect("values")
            .remove(0);
    });
    check(&event, &no_cause, false);
}

#[test]
fn strategies_never_collide() {
    let title = json!({"title": "x"});
    let message = json!({"message": "x"});
    let exception = json!({"exception": {"values": [{"value": "x"}]}});
    let fingerprint = json!({"fingerprint": ["x"]});
    let hashes: Vec<String> = [&title, &message, &exception, &fingerprint]
        .iter()
        .map(|e| group_event(e).hash)
        .collect();
    for (i, a) in hashes.iter().enumerate() {
        for b in &hashes[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // Entry boundaries count: ["ab", "c"] is not ["a", "bc"].
    check(
        &json!({"fingerprint": ["ab", "c"]}),
        &json!({"fingerprint": ["a", "bc"]}),
        false,
    );
}

// ---- SDK fingerprints -----------------------------------------------------------------------

#[test]
fn an_sdk_fingerprint_replaces_the_default() {
    let event = fixture("node_fingerprinted");
    let elsewhere = edit(&event, |e| {
        e["exception"]["values"][0]["value"] =
            json!("upstream pricing service returned 503 for quote 7");
        frames(e, 0).truncate(2);
    });
    check(&event, &elsewhere, true);
    let other = edit(&event, |e| e["fingerprint"] = json!(["pricing-504"]));
    check(&event, &other, false);
    check(
        &json!({"fingerprint": [42]}),
        &json!({"fingerprint": ["42"]}),
        true,
    );
}

#[test]
fn default_in_a_fingerprint_refines_the_default_grouping() {
    let event = fixture("py_fingerprinted");
    let shifted = edit(&event, |e| {
        each_frame(e, |f| f["lineno"] = json!(1));
    });
    check(&event, &shifted, true);
    let other_stack = edit(&event, |e| {
        frames(e, 0)[0]["function"] = json!("nightly_job");
    });
    check(&event, &other_stack, false);
    let components = group_event(&event).components;
    assert_eq!(
        components["values"],
        json!(["gateway-timeout", "{{ default }}"])
    );
    assert_eq!(components["default"]["kind"], "exception_stacktrace");
    // Only `{{ default }}`, however spelled, is the default grouping itself.
    let plain = edit(&event, |e| e["fingerprint"] = Value::Null);
    for spelling in ["{{ default }}", "{{default}}", "{{   default }}"] {
        let only_default = edit(&event, |e| e["fingerprint"] = json!([spelling]));
        check(&only_default, &plain, true);
    }
    let spaced = edit(&event, |e| {
        e["fingerprint"] = json!(["gateway-timeout", "{{default}}"])
    });
    check(&event, &spaced, true);
}

/// An edit of an event, for tables of variations.
type Change = Box<dyn Fn(&mut Value)>;

#[test]
fn fingerprint_variables_resolve_from_the_event() {
    let base = fixture("py_wsgi_get_order");
    let with = |fingerprint: Value, change: &dyn Fn(&mut Value)| {
        edit(&base, |e| {
            e["fingerprint"] = fingerprint;
            change(e);
        })
    };
    let cases: Vec<(&str, Change, Change)> = vec![
        (
            "{{ error.type }}",
            Box::new(|e| frames(e, 1).truncate(1)),
            Box::new(|e| e["exception"]["values"][1]["type"] = json!("RefundError")),
        ),
        (
            "{{error.value}}",
            Box::new(|e| {
                e["exception"]["values"][1]["value"] = json!("charge failed for order 1 (5 cents)")
            }),
            Box::new(|e| {
                e["exception"]["values"][1]["value"] = json!("refund failed for order 1 (5 cents)")
            }),
        ),
        (
            "{{ transaction }}",
            Box::new(|e| e["exception"]["values"][1]["type"] = json!("RefundError")),
            Box::new(|e| e["transaction"] = json!("POST /refund")),
        ),
        (
            "{{ function }}",
            Box::new(|e| frames(e, 1)[1]["lineno"] = json!(1)),
            Box::new(|e| frames(e, 1)[1]["function"] = json!("refund_card")),
        ),
        (
            "{{ module }}",
            Box::new(|e| frames(e, 1)[1]["function"] = json!("refund_card")),
            Box::new(|e| frames(e, 1)[1]["module"] = json!("shopapp.refunds")),
        ),
        (
            "{{ level }}",
            Box::new(|e| e["logger"] = json!("other")),
            Box::new(|e| e["level"] = json!("warning")),
        ),
        (
            "{{ logger }}",
            Box::new(|e| e["level"] = json!("warning")),
            Box::new(|e| e["logger"] = json!("shop.payments")),
        ),
        (
            "{{ tags.region }}",
            Box::new(|e| e["tags"] = json!([["tenant", "x"]])),
            Box::new(|e| e["tags"] = json!([["region", "us-east-1"]])),
        ),
    ];
    for (variable, same, different) in cases {
        let fingerprint = json!(["payments", variable]);
        let a = with(fingerprint.clone(), &|_| {});
        check(&a, &with(fingerprint.clone(), &*same), true);
        check(&a, &with(fingerprint.clone(), &*different), false);
    }
    let resolved = group_event(&with(
        json!([
            "{{ error.type }}",
            "{{ error.value }}",
            "{{ function }}",
            "{{ module }}",
            "{{ transaction }}",
            "{{ level }}",
            "{{ logger }}",
            "{{ tags.region }}"
        ]),
        &|e| e["tags"] = json!([["region", "eu-west-1"]]),
    ))
    .components;
    assert_eq!(
        resolved["values"],
        json!([
            "PaymentError",
            "charge failed for order <int> (<int> cents)",
            "charge_card",
            "shopapp.billing",
            "generic WSGI request",
            "error",
            "<no-logger>",
            "eu-west-1"
        ])
    );
}

#[test]
fn a_fingerprint_entry_equal_to_the_message_is_parameterized() {
    // `scope.setFingerprint([err.message])` must not open an issue per order id.
    let event = |value: &str| {
        normalized(json!({"platform": "node", "fingerprint": [value],
            "exception": {"values": [{"type": "Error", "value": value}]}}))
    };
    check(&event("order 17 failed"), &event("order 4242 failed"), true);
    check(&event("order 17 failed"), &event("refund 17 failed"), false);
    // Other literals are kept as they are.
    check(
        &json!({"fingerprint": ["v1"]}),
        &json!({"fingerprint": ["v2"]}),
        false,
    );
}

// ---- Server-side fingerprint rules ----------------------------------------------------------

#[test]
fn a_matching_rule_sets_the_fingerprint_and_the_title() {
    let config = rules(
        "# everything dividing by zero is one issue\n\
         error.type:ZeroDivisionError -> division-by-zero title=\"Division by zero in {{ function }}\"",
    );
    let (a, b) = (fixture("py_zero_division"), fixture("py_thread_error"));
    check_with(&a, &b, &config, true);
    check(&a, &b, false);
    let grouping = group_event_with(&a, &config);
    assert_eq!(
        grouping.title_override.as_deref(),
        Some("Division by zero in compute_ratio")
    );
    assert_eq!(grouping.components["kind"], "rule");
    assert_eq!(grouping.components["values"], json!(["division-by-zero"]));
    assert_eq!(
        grouping.components["rule"],
        "error.type:ZeroDivisionError -> division-by-zero title=\"Division by zero in {{ function }}\""
    );
    // Events the rule does not match group as before.
    let other = fixture("py_index_error");
    assert_eq!(group_event_with(&other, &config), group_event(&other));
}

#[test]
fn the_first_matching_rule_wins() {
    let config = rules(
        "error.type:KeyError -> keys\n\
         stack.module:shopapp.billing -> billing\n\
         error.type:ZeroDivisionError -> division",
    );
    let grouping = group_event_with(&fixture("py_zero_division"), &config);
    assert_eq!(grouping.components["values"], json!(["billing"]));
    // The KeyError from billing matches the first rule.
    check_with(
        &fixture("py_key_error_discount"),
        &fixture("py_asyncio_task"),
        &config,
        true,
    );
}

#[test]
fn an_sdk_fingerprint_wins_over_rules() {
    let config = rules("error.type:ConnectionError -> connection title=\"Connection\"");
    let event = fixture("py_fingerprinted");
    let grouping = group_event_with(&event, &config);
    assert_eq!(grouping, group_event(&event));
    assert_eq!(grouping.title_override, None);
    // But a fingerprint of only `{{ default }}` leaves room for the rules.
    let only_default = edit(&event, |e| e["fingerprint"] = json!(["{{ default }}"]));
    assert_eq!(
        group_event_with(&only_default, &config).components["kind"],
        "rule"
    );
}

#[test]
fn a_rule_with_default_refines_the_default_grouping() {
    let config = rules("stack.module:shopapp.billing -> billing, {{ default }}");
    let (a, b) = (fixture("py_zero_division"), fixture("py_thread_error"));
    check_with(&a, &b, &config, false);
    assert_ne!(group_event_with(&a, &config).hash, group_event(&a).hash);
    let shifted = edit(&a, |e| each_frame(e, |f| f["lineno"] = json!(3)));
    check_with(&a, &shifted, &config, true);
}

#[test]
fn a_rule_of_only_default_keeps_the_issue_and_sets_the_title() {
    let config = rules(
        "error.type:ZeroDivisionError -> {{ default }} title=\"Bad ratio: {{ error.value }}\"",
    );
    let event = fixture("py_zero_division");
    let grouping = group_event_with(&event, &config);
    assert_eq!(grouping.hash, group_event(&event).hash);
    assert_eq!(
        grouping.title_override.as_deref(),
        Some("Bad ratio: division by zero")
    );
}

#[test]
fn rule_and_sdk_fingerprints_with_the_same_values_are_one_issue() {
    let config = rules("error.type:ZeroDivisionError -> billing, ratio");
    let by_rule = fixture("py_zero_division");
    let by_sdk = edit(&fixture("py_index_error"), |e| {
        e["fingerprint"] = json!(["billing", "ratio"])
    });
    check_with(&by_rule, &by_sdk, &config, true);
}

#[test]
fn rules_match_the_corpus() {
    let cases: &[(&str, &str, bool)] = &[
        (
            "message:\"User * failed login*\"",
            "py_capture_message_ids",
            true,
        ),
        (
            "message:\"payment webhook wh_* returned*\"",
            "py_logging_error_message",
            true,
        ),
        ("message:\"*ECONNREFUSED*\"", "node_econnrefused", true),
        ("logger:shop.*", "py_logging_error_message", true),
        ("logger:shop.*", "py_zero_division", false),
        ("level:warning", "py_capture_message_ids", true),
        ("tags.region:ap-*", "py_capture_message_ids", true),
        ("tags.region:eu-*", "py_capture_message_ids", false),
        ("sdk:sentry.javascript.*", "node_express_get_cart", true),
        ("sdk:sentry.javascript.*", "py_zero_division", false),
        ("family:javascript", "node_json_parse", true),
        ("family:javascript", "py_json_decode", false),
        ("release:shop-frontend-api@3.*", "node_json_parse", true),
        ("release:shop-frontend-api@3.*", "py_json_decode", false),
        ("stack.module:json.* app:no", "py_json_decode", true),
        ("stack.module:json.* app:yes", "py_json_decode", false),
        (
            "stack.abs_path:**/node_modules/router/**",
            "node_express_get_cart",
            true,
        ),
        (
            "stack.function:CategoryTree.walk",
            "node_deep_recursion",
            true,
        ),
        (
            "error.type:PaymentDeclinedError error.value:\"charge of * cents declined*\"",
            "node_cause_chain",
            true,
        ),
        (
            "error.type:Error error.value:\"authorization failed*\"",
            "node_cause_chain",
            true,
        ),
        (
            "error.type:PaymentDeclinedError error.value:\"authorization failed*\"",
            "node_cause_chain",
            false,
        ),
        ("!error.type:ZeroDivisionError", "py_zero_division", false),
    ];
    for (matchers, name, expected) in cases {
        let config = rules(&format!("{matchers} -> matched"));
        let kind = group_event_with(&fixture(name), &config).components["kind"].clone();
        assert_eq!(kind == "rule", *expected, "{matchers} on {name}");
    }
}

// ---- Components and odd input ----------------------------------------------------------------

#[test]
fn components_explain_the_grouping() {
    let grouping = group_event(&fixture("node_express_get_cart"));
    let components = &grouping.components;
    assert_eq!(components["kind"], "exception_stacktrace");
    assert_eq!(components["frames_used"], "in_app");
    let exception = &components["values"][0];
    assert_eq!(exception["type"], "TypeError");
    assert_eq!(exception["frames"], json!([{"module": "gen_node_events"}]));
    // The only frame names a file but no place in it, so the value counts too.
    assert_eq!(
        exception["value"],
        "Cannot read properties of null (reading 'total')"
    );
    assert_eq!(exception["skipped"]["not_in_app"], 9);
    let text = group_event(&fixture("py_json_decode"))
        .components
        .to_string();
    for absent in ["lineno", "abs_path", "/srv/", "colno"] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    let stack = group_event(&fixture("py_zero_division")).components;
    assert_eq!(
        stack["values"][0]["frames"][4],
        json!({"module": "shopapp.billing", "function": "compute_ratio", "context_line": "share = paid / total # ZeroDivisionError when total == 0"})
    );
    assert_eq!(
        group_event(&fixture("py_capture_message_ids")).components,
        json!({"kind": "message", "values": ["User <int> failed login from <ip> (attempt <int>)"]})
    );
    let only_library = group_event(&fixture("node_econnrefused")).components;
    assert_eq!(only_library["frames_used"], "all");
    assert_eq!(
        only_library["values"][0]["value"],
        "connect ECONNREFUSED <ip>:<int>"
    );
}

#[test]
fn messages_use_the_template_over_the_formatted_text() {
    let event = fixture("py_logging_error_message");
    let other_params = edit(&event, |e| {
        e["logentry"]["formatted"] = json!("payment webhook wh_1 returned status 500 after 3ms");
        e["logentry"]["params"] = json!(["wh_1", 500, 3]);
    });
    check(&event, &other_params, true);
    let formatted_only = |text: &str| normalized(json!({"logentry": {"formatted": text}}));
    check(
        &formatted_only("webhook wh_1 returned 500"),
        &formatted_only("webhook wh_2 returned 502"),
        false,
    );
    check(
        &formatted_only("webhook 1 returned 500"),
        &formatted_only("webhook 2 returned 502"),
        true,
    );
}

#[test]
fn odd_events_never_panic() {
    let odd = [
        json!({}),
        json!(null),
        json!([]),
        json!({"exception": {"values": [1, "x", null, {}]}}),
        json!({"exception": {"values": [{"type": 5, "stacktrace": {"frames": [1, null, {"function": 3}]}}]}}),
        json!({"exception": "boom", "message": {"message": 5}}),
        json!({"fingerprint": "not-a-list", "tags": "x", "logentry": []}),
        json!({"fingerprint": [null, {}, "{{ }}", "{{ tags. }}"], "tags": [["a"], [1, 2], ["k", null]]}),
        json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [{"function": "?", "filename": "<anonymous>"}]}}]}}),
    ];
    for event in &odd {
        let grouping = group_event_with(event, &rules("level:* -> x title=\"{{ error.type }}\""));
        assert_eq!(grouping.hash.len(), 64);
        let _ = group_event(event);
        let _ = group_event_v1(event);
        let _ = transition_hashes(event);
    }
    assert_eq!(
        group_event(&json!({})).components,
        json!({"kind": "title", "values": ["<unlabeled event>"]})
    );
    let junk_only = group_event(&odd[8]).components;
    assert_eq!(junk_only["kind"], "exception");
    assert_eq!(junk_only["values"][0]["skipped"]["junk"], 1);
}

#[test]
fn public_helpers_keep_their_behaviour() {
    let event = fixture("node_cause_chain");
    assert_eq!(
        main_exception(&event).map(|e| e["type"].clone()),
        Some(json!("PaymentDeclinedError"))
    );
    assert_eq!(
        log_message(&fixture("py_logging_error_message")),
        "payment webhook %s returned status %d after %dms"
    );
    assert_eq!(
        log_message(&fixture("py_capture_message_ids")),
        "User 66947 failed login from 198.51.100.203 (attempt 9)"
    );
    assert!(is_in_app(&json!({"abs_path": "/srv/app/x.py"})));
    assert!(!is_in_app(
        &json!({"abs_path": "/venv/lib/python3.12/site-packages/x.py"})
    ));
    assert!(!is_in_app(&json!({"filename": "node:internal/timers"})));
    assert!(is_in_app(
        &json!({"abs_path": "/venv/lib/python3.12/site-packages/x.py", "in_app": true})
    ));
}
