//! Vectors signed by Python `cryptography` (testdata/jws/make.py), plus hand-made inputs for
//! what a signer cannot produce.

use super::*;

const VECTORS: &str = include_str!("../../testdata/jws/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("testdata/jws/vectors.json is JSON")
}

fn text<'a>(case: &'a Value, member: &str) -> &'a str {
    case[member].as_str().unwrap_or_else(|| panic!("case {} has no {member}", case["name"]))
}

/// The variant name of an error, as the vectors spell expectations.
fn variant(error: &JwsError) -> String {
    let debug = format!("{error:?}");
    debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
}

/// Parses and verifies one request as a server would: jwk requests with their own key, kid
/// requests with the account key the vector names.
fn run_case(case: &Value, kid_keys: &Value) -> Result<Jws, JwsError> {
    let jws = parse_flattened(text(case, "body").as_bytes())?;
    match &jws.header().key {
        KeyRef::Jwk(_) => {
            jws.verify_embedded()?;
        }
        KeyRef::Kid(_) => {
            let account = Jwk::from_value(&kid_keys[text(case, "key")]).expect("vector account key");
            jws.verify(&account)?;
        }
    }
    Ok(jws)
}

#[test]
fn python_vectors_verify_or_fail_for_their_reason() {
    let vectors = vectors();
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(cases.len() > 40);
    for case in cases {
        let name = text(case, "name");
        match (run_case(case, &vectors["kid_keys"]), text(case, "expect")) {
            (Ok(_), "ok") => {}
            (Ok(_), expected) => panic!("{name}: accepted, expected {expected}"),
            (Err(e), expected) => assert_eq!(variant(&e), expected, "{name}: {e}"),
        }
    }
}

#[test]
fn accepted_requests_carry_their_header_and_payload() {
    let vectors = vectors();
    for case in vectors["cases"].as_array().expect("cases").iter().filter(|c| c["expect"] == "ok") {
        let jws = run_case(case, &vectors["kid_keys"]).expect("ok case");
        let header = jws.header();
        assert_eq!(header.nonce.as_deref(), Some("dGVzdC1ub25jZS0x"));
        assert!(jws.check_url("https://ca.test:8443/acme/web/new-account").is_ok());
        let wrong = jws.check_url("https://ca.test:8443/acme/web/new-order").expect_err("other url");
        assert_eq!(wrong.problem_type(), "urn:ietf:params:acme:error:unauthorized");
        if text(case, "name").ends_with("post_as_get") {
            assert!(jws.is_post_as_get() && jws.payload().is_empty());
            assert!(jws.payload_json().is_err());
        } else {
            assert!(!jws.is_post_as_get());
            assert_eq!(jws.payload_json().expect("payload")["termsOfServiceAgreed"], Value::Bool(true));
        }
        match &header.key {
            KeyRef::Kid(kid) => {
                assert_eq!(kid, "https://ca.test:8443/acme/web/account/1");
                assert_eq!(jws.kid().ok(), Some(kid.as_str()));
                assert!(matches!(jws.verify_embedded(), Err(JwsError::JwkRequired)));
            }
            KeyRef::Jwk(_) => assert!(matches!(jws.kid(), Err(JwsError::KidRequired))),
        }
    }
}

#[test]
fn thumbprints_and_key_authorizations_match_python() {
    let vectors = vectors();
    let with_thumbprint =
        vectors["cases"].as_array().expect("cases").iter().filter(|c| c.get("thumbprint").is_some());
    let mut seen = 0;
    for case in with_thumbprint {
        let jws = parse_flattened(text(case, "body").as_bytes()).expect("ok case");
        let key = jws.verify_embedded().expect("verifies");
        assert_eq!(key.thumbprint(), text(case, "thumbprint"), "{}", case["name"]);
        let key_authorization = key_authorization(text(case, "token"), key);
        assert_eq!(key_authorization, text(case, "key_authorization"));
        assert_eq!(dns01_txt_value(&key_authorization), text(case, "dns01"));
        seen += 1;
    }
    assert_eq!(seen, 4, "one per algorithm");
}

#[test]
fn rfc7638_example_thumbprint() {
    // RFC 7638 §3.1, with the optional "alg" and "kid" members the example carries.
    let jwk = br#"{"kty":"RSA",
      "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      "e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;
    let key = Jwk::from_json(jwk).expect("RFC 7638 key");
    assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(key.key_type(), JwkType::Rsa);
    // The stored form reads back as the same key, with the same thumbprint.
    let again = Jwk::from_json(key.to_json().as_bytes()).expect("canonical form");
    assert_eq!(again, key);
    assert_eq!(again.thumbprint(), key.thumbprint());
}

#[test]
fn python_eab_vectors() {
    let vectors = vectors();
    for case in vectors["eab"].as_array().expect("eab cases") {
        let name = text(case, "name");
        let hmac_key = Base64UrlUnpadded::decode_vec(text(case, "hmac_key")).expect("hmac key");
        let outcome = (|| {
            let outer = parse_flattened(text(case, "body").as_bytes())?;
            let account = outer.verify_embedded()?;
            let payload = outer.payload_json()?;
            let eab = ExternalAccountBinding::from_value(&payload["externalAccountBinding"])?;
            assert_eq!(eab.key_id(), "eab-key-1");
            eab.verify(&hmac_key, &outer.header().url, account)
        })();
        match (outcome, text(case, "expect")) {
            (Ok(()), "ok") => {}
            (Ok(()), expected) => panic!("{name}: accepted, expected {expected}"),
            (Err(e), expected) => assert_eq!(variant(&e), expected, "{name}: {e}"),
        }
    }
}

#[test]
fn eab_payload_is_compared_as_a_key_not_as_bytes() {
    let vectors = vectors();
    let case = &vectors["eab"][0];
    let outer = parse_flattened(text(case, "body").as_bytes()).expect("ok case");
    let account = outer.verify_embedded().expect("verifies");
    // The same key with members reordered and an optional member added is the same key.
    let mut reordered: Map<String, Value> = serde_json::from_str(account.to_json()).expect("json");
    reordered.insert("use".into(), Value::String("sig".into()));
    let reordered: Map<String, Value> = reordered.into_iter().rev().collect();
    assert_eq!(Jwk::from_value(&Value::Object(reordered)).expect("same key"), *account);
}

// --- Inputs a signer cannot make --------------------------------------------------------------

fn b64(text: &str) -> String {
    Base64UrlUnpadded::encode_string(text.as_bytes())
}

fn body(protected: &str, payload: &str, signature: &str) -> String {
    format!(r#"{{"protected":"{protected}","payload":"{payload}","signature":"{signature}"}}"#)
}

const P256_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0","y":"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}"#;

fn header_with(jwk_or_kid: &str) -> String {
    b64(&format!(r#"{{"alg":"ES256","nonce":"bm9uY2U","url":"https://ca.test/x",{jwk_or_kid}}}"#))
}

#[test]
fn rfc7515_p256_key_parses() {
    // The P-256 key of RFC 7515 §A.3.
    let key = Jwk::from_json(P256_JWK.as_bytes()).expect("RFC 7515 key");
    assert_eq!(key.key_type(), JwkType::P256);
}

#[test]
fn structural_refusals() {
    let protected = header_with(&format!(r#""jwk":{P256_JWK}"#));
    let sig = "AAAA";
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "NotJson"),
        ("[1,2]".into(), "NotAnObject"),
        (format!(r#""{protected}.e30.{sig}""#), "CompactSerialization"),
        (
            format!(r#"{{"protected":"{protected}","payload":"","signature":"{sig}","extra":1}}"#),
            "UnknownMember",
        ),
        (format!(r#"{{"protected":"{protected}","signature":"{sig}"}}"#), "MissingMember"),
        (format!(r#"{{"protected":"{protected}","payload":7,"signature":"{sig}"}}"#), "WrongType"),
        (body(&b64("[]"), "", sig), "NotAnObject"),
        (body(&b64("{nope"), "", sig), "NotJson"),
        // Non-canonical base64url: the last character's unused bits are set.
        (body(&protected, "", "AAB"), "Base64"),
        (body(&protected, "e30\\n", sig), "Base64"),
        (body(&header_with(r#""kid":"""#), "", sig), "WrongType"),
        (body(&header_with(r#""kid":"a","extra":"x"#), "", sig), "NotJson"),
        (body(&header_with(r#""kid":"a","url":"u2""#), "", sig), "DuplicateMember"),
        (body(&header_with(r#""jwk":{"kty":"oct","k":"c2VjcmV0"}"#), "", sig), "PrivateKeyMember"),
        (
            body(&header_with(r#""jwk":{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#), "", sig),
            "UnsupportedCurve",
        ),
        (body(&header_with(r#""jwk":{"kty":"DSA"}"#), "", sig), "UnsupportedKeyType"),
        (body(&header_with(r#""jwk":"not an object""#), "", sig), "NotAnObject"),
        (
            body(&b64(r#"{"alg":"ES256","nonce":"bad nonce!","url":"u","kid":"k"}"#), "", sig),
            "MalformedNonce",
        ),
        (body(&b64(r#"{"alg":"ES256","nonce":"bm9uY2U","kid":"k"}"#), "", sig), "MissingMember"),
    ];
    for (input, expected) in cases {
        let got = parse_flattened(input.as_bytes()).and_then(|jws| jws.verify_embedded().map(|_| ()));
        match got {
            Ok(_) => panic!("accepted {input:.80}, expected {expected}"),
            Err(e) => assert_eq!(variant(&e), expected, "{input:.120}: {e}"),
        }
    }
}

#[test]
fn a_kid_request_with_an_empty_signature_fails_at_verification() {
    let input = body(&b64(r#"{"alg":"ES256","nonce":"bm9uY2U","url":"u","kid":"k"}"#), "", "");
    let jws = parse_flattened(input.as_bytes()).expect("parses");
    let key = Jwk::from_json(P256_JWK.as_bytes()).expect("key");
    assert!(matches!(jws.verify(&key), Err(JwsError::SignatureLength { got: 0, .. })));
}

fn rsa_jwk_with(n: &[u8], e: &[u8]) -> Result<Jwk, JwsError> {
    let json = format!(
        r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#,
        Base64UrlUnpadded::encode_string(n),
        Base64UrlUnpadded::encode_string(e)
    );
    Jwk::from_json(json.as_bytes())
}

#[test]
fn rsa_keys_are_sized_by_real_bit_length() {
    let mut n = vec![0xffu8; 256];
    n[0] = 0x7f; // 2047 bits in 256 octets
    assert!(matches!(rsa_jwk_with(&n, &[1, 0, 1]), Err(JwsError::RsaModulusSize { bits: 2047 })));
    let mut padded = vec![0u8];
    padded.extend([0xffu8; 256]);
    assert!(matches!(rsa_jwk_with(&padded, &[1, 0, 1]), Err(JwsError::RsaKey { .. })));
    assert!(matches!(rsa_jwk_with(&[0xff; 513], &[1, 0, 1]), Err(JwsError::RsaModulusSize { bits: 4104 })));
    let mut even = vec![0xffu8; 256];
    even[255] = 0xfe;
    assert!(matches!(rsa_jwk_with(&even, &[1, 0, 1]), Err(JwsError::RsaKey { .. })));
    for e in [&[1u8][..], &[2], &[1, 0, 0], &[0x80, 0, 0, 1], &[1, 0, 0, 0, 1]] {
        assert!(matches!(rsa_jwk_with(&[0xff; 256], e), Err(JwsError::RsaKey { .. })), "e = {e:?}");
    }
}

#[test]
fn ed25519_small_order_point_is_refused() {
    // The identity point (y = 1) is of small order.
    let mut x = [0u8; 32];
    x[0] = 1;
    let json = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, Base64UrlUnpadded::encode_string(&x));
    assert!(matches!(Jwk::from_json(json.as_bytes()), Err(JwsError::WeakKey)));
}

#[test]
fn problem_types_and_algorithms() {
    let unsupported = JwsError::UnsupportedAlgorithm { alg: "none".into(), allowed: Alg::ALLOWED };
    assert_eq!(unsupported.problem_type(), "urn:ietf:params:acme:error:badSignatureAlgorithm");
    assert_eq!(unsupported.algorithms(), Some(&["ES256", "ES384", "RS256", "EdDSA"][..]));
    assert_eq!(JwsError::WeakKey.problem_type(), "urn:ietf:params:acme:error:badPublicKey");
    assert_eq!(JwsError::MissingNonce.problem_type(), "urn:ietf:params:acme:error:badNonce");
    assert_eq!(JwsError::EabKeyMismatch.problem_type(), "urn:ietf:params:acme:error:unauthorized");
    assert_eq!(JwsError::NoKey.problem_type(), "urn:ietf:params:acme:error:malformed");
    assert_eq!(JwsError::NoKey.algorithms(), None);
}

#[test]
fn messages_quote_only_a_short_prefix_of_input() {
    let long_alg = "X".repeat(5000);
    let input =
        body(&b64(&format!(r#"{{"alg":"{long_alg}","nonce":"bm9uY2U","url":"u","kid":"k"}}"#)), "", "AAAA");
    let error = parse_flattened(input.as_bytes()).expect_err("refused");
    assert!(matches!(error, JwsError::UnsupportedAlgorithm { .. }));
    assert!(error.to_string().len() < 200, "{error}");
}

#[test]
fn the_size_limit_is_exact() {
    let filler = " ".repeat(MAX_JWS_BYTES - 2);
    let at_limit = format!("{{{filler}}}");
    assert_eq!(at_limit.len(), MAX_JWS_BYTES);
    assert!(matches!(parse_flattened(at_limit.as_bytes()), Err(JwsError::MissingMember { .. })));
    let over = format!("{at_limit} ");
    assert!(
        matches!(parse_flattened(over.as_bytes()), Err(JwsError::TooLarge { size, .. }) if size == MAX_JWS_BYTES + 1)
    );
}

#[test]
fn key_change_inner_jws_needs_a_jwk_and_no_nonce() {
    let vectors = vectors();
    let cases = vectors["cases"].as_array().expect("cases");
    let with_jwk = cases.iter().find(|c| c["name"] == "ok_es256_jwk").expect("case");
    let inner = parse_key_change_inner(text(with_jwk, "body").as_bytes()).expect("inner jws");
    inner.verify_embedded().expect("verifies");
    let with_kid = cases.iter().find(|c| c["name"] == "ok_es256_kid").expect("case");
    assert!(matches!(parse_key_change_inner(text(with_kid, "body").as_bytes()), Err(JwsError::JwkRequired)));
    let no_nonce = cases.iter().find(|c| c["name"] == "missing_nonce").expect("case");
    let inner = parse_key_change_inner(text(no_nonce, "body").as_bytes()).expect("nonce optional inside");
    assert_eq!(inner.header().nonce, None);
    inner.verify_embedded().expect("verifies");
}

#[test]
fn garbage_never_panics() {
    // A cheap stand-in for the fuzz target: every prefix and some byte flips of a real request.
    let vectors = vectors();
    let sample = text(&vectors["cases"][0], "body").as_bytes().to_vec();
    for end in (0..sample.len()).step_by(7) {
        let _ = parse_flattened(&sample[..end]);
    }
    for position in (0..sample.len()).step_by(13) {
        let mut flipped = sample.clone();
        flipped[position] ^= 0x20;
        if let Ok(jws) = parse_flattened(&flipped) {
            let _ = jws.verify_embedded();
        }
    }
}

#[test]
fn certificate_keys_convert_to_the_same_jwk() {
    let vectors = vectors();
    let with_spki = vectors["cases"].as_array().expect("cases").iter().filter(|c| c.get("spki").is_some());
    let mut seen = 0;
    for case in with_spki {
        let jws = parse_flattened(text(case, "body").as_bytes()).expect("ok case");
        let KeyRef::Jwk(jwk) = &jws.header().key else { panic!("{}: no jwk", case["name"]) };
        let spki = Base64UrlUnpadded::decode_vec(text(case, "spki")).expect("spki");
        assert_eq!(Jwk::from_spki_der(&spki).as_ref(), Ok(jwk), "{}", case["name"]);
        seen += 1;
    }
    assert_eq!(seen, 4, "one per algorithm");
    let refused = &vectors["spki_refused"];
    let p521 = Base64UrlUnpadded::decode_vec(text(refused, "p521")).expect("spki");
    assert_eq!(Jwk::from_spki_der(&p521), Err(JwsError::UnsupportedSpki));
    let rsa_1024 = Base64UrlUnpadded::decode_vec(text(refused, "rsa_1024")).expect("spki");
    assert_eq!(Jwk::from_spki_der(&rsa_1024), Err(JwsError::RsaModulusSize { bits: 1024 }));
    assert_eq!(Jwk::from_spki_der(b"not der"), Err(JwsError::UnsupportedSpki));
}
