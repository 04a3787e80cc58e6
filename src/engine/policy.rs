//! What a CA may sign beyond its profile: DNS name constraints (enforced at issuance, not
//! left to the verifier) and path length.

use super::EngineError;
use crate::names::San;

/// The permitted DNS subtrees of one CA in the issuing chain (empty: unconstrained).
#[derive(Debug, Clone)]
pub struct DnsConstraint {
    pub ca: String,
    pub permitted: Vec<String>,
}

/// RFC 5280 §4.2.1.10: "example.com" permits example.com and every name below it.
pub fn dns_name_within(name: &str, subtree: &str) -> bool {
    let subtree = subtree.trim_start_matches('.');
    name == subtree || name.strip_suffix(subtree).is_some_and(|prefix| prefix.ends_with('.'))
}

/// Every DNS SAN must fall inside the permitted subtrees of every constrained CA in the chain.
pub fn check_dns_sans(sans: &[San], chain: &[DnsConstraint]) -> Result<(), EngineError> {
    for constraint in chain.iter().filter(|c| !c.permitted.is_empty()) {
        for san in sans {
            if let San::Dns(name) = san
                && !constraint.permitted.iter().any(|p| dns_name_within(name, p))
            {
                return Err(EngineError::NameConstraint {
                    name: name.clone(),
                    ca: constraint.ca.clone(),
                    permitted: constraint.permitted.join(", "),
                });
            }
        }
    }
    Ok(())
}

/// A sub-CA's own permitted subtrees must lie inside its ancestors' (it cannot widen them).
pub fn check_subtrees(subtrees: &[String], chain: &[DnsConstraint]) -> Result<(), EngineError> {
    let as_sans: Vec<San> = subtrees.iter().map(|s| San::Dns(s.clone())).collect();
    check_dns_sans(&as_sans, chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_matching() {
        assert!(dns_name_within("example.com", "example.com"));
        assert!(dns_name_within("api.example.com", "example.com"));
        assert!(dns_name_within("*.example.com", "example.com"));
        assert!(dns_name_within("a.b.example.com", ".example.com"));
        assert!(!dns_name_within("badexample.com", "example.com"));
        assert!(!dns_name_within("example.com.evil", "example.com"));
        assert!(!dns_name_within("com", "example.com"));
    }

    #[test]
    fn every_constrained_ancestor_applies() {
        let chain = vec![
            DnsConstraint { ca: "root".into(), permitted: vec![] },
            DnsConstraint { ca: "mid".into(), permitted: vec!["corp.example".into()] },
        ];
        assert!(check_dns_sans(&[San::Dns("a.corp.example".into())], &chain).is_ok());
        assert!(check_dns_sans(&[San::Ip("10.0.0.1".parse().unwrap())], &chain).is_ok());
        let err = check_dns_sans(&[San::Dns("a.other.example".into())], &chain).unwrap_err();
        assert!(err.to_string().contains("mid"));
    }
}
