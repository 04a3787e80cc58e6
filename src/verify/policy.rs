//! Certificate policies, RFC 5280 6.1: the valid_policy_tree with anyPolicy, policy mappings,
//! requireExplicitPolicy, inhibitPolicyMapping and inhibitAnyPolicy, for the default inputs
//! (user-initial-policy-set anyPolicy, nothing initially required or inhibited). With those
//! inputs a path can only fail here once a CA requires an explicit policy, so the tree is only
//! grown for paths where some certificate does.

use der::Decode;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{CertificatePolicies, InhibitAnyPolicy, PolicyConstraints, PolicyMappings};

use super::path::Path;

const ANY_POLICY: &str = "2.5.29.32.0";

/// The policy facts of one certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    /// None: no certificatePolicies extension.
    pub policies: Option<Vec<String>>,
    /// (issuerDomainPolicy, subjectDomainPolicy)
    pub mappings: Vec<(String, String)>,
    pub require_explicit: Option<u32>,
    pub inhibit_mapping: Option<u32>,
    pub inhibit_any: Option<u32>,
}

impl Policies {
    pub fn of(cert: &Certificate) -> Result<Policies, der::Error> {
        let tbs = cert.tbs_certificate();
        let policies = tbs
            .get_extension::<CertificatePolicies>()?
            .map(|(_, p)| p.0.iter().map(|i| i.policy_identifier.to_string()).collect());
        let mappings = tbs
            .get_extension::<PolicyMappings>()?
            .map(|(_, m)| {
                m.0.iter()
                    .map(|m| (m.issuer_domain_policy.to_string(), m.subject_domain_policy.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let constraints = tbs.get_extension::<PolicyConstraints>()?.map(|(_, c)| c);
        let inhibit_any = tbs.get_extension::<InhibitAnyPolicy>()?.map(|(_, i)| i.0);
        Ok(Policies {
            policies,
            mappings,
            require_explicit: constraints.as_ref().and_then(|c| c.require_explicit_policy),
            inhibit_mapping: constraints.as_ref().and_then(|c| c.inhibit_policy_mapping),
            inhibit_any,
        })
    }
}

pub fn der_policies(der: &[u8]) -> Result<Policies, String> {
    let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
    Policies::of(&cert).map_err(|e| format!("its policy extensions are unreadable ({e})"))
}

#[derive(Debug, Clone)]
struct Node {
    depth: usize,
    valid: String,
    expected: Vec<String>,
    parent: Option<usize>,
    alive: bool,
}

struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn is_null(&self) -> bool {
        !self.nodes.first().is_some_and(|root| root.alive)
    }

    fn at(&self, depth: usize) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].alive && self.nodes[i].depth == depth).collect()
    }

    fn add(&mut self, parent: usize, valid: &str, expected: Vec<String>) {
        let depth = self.nodes[parent].depth + 1;
        self.nodes.push(Node {
            depth,
            valid: valid.to_string(),
            expected,
            parent: Some(parent),
            alive: true,
        });
    }

    fn has_child(&self, node: usize, valid: Option<&str>) -> bool {
        self.nodes.iter().any(|n| n.alive && n.parent == Some(node) && valid.is_none_or(|v| n.valid == v))
    }

    /// Deletes childless nodes of depth `below` or less, bottom up.
    fn prune(&mut self, below: usize) {
        for depth in (0..=below).rev() {
            for i in self.at(depth) {
                if !self.has_child(i, None) {
                    self.nodes[i].alive = false;
                }
            }
        }
    }

    fn kill(&mut self) {
        self.nodes.iter_mut().for_each(|n| n.alive = false);
    }
}

/// Most nodes one path may grow (a hostile set of policies and mappings could grow the tree
/// exponentially).
const MAX_NODES: usize = 10_000;

/// RFC 5280 6.1.3 (d)-(f), 6.1.4 (a)-(b), (h)-(j), 6.1.5 (a), (b): Err says why the path fails.
pub fn check(path: &Path) -> Result<(), String> {
    let n = path.certs.len() - 1;
    if n == 0 {
        return Ok(());
    }
    // From the anchor's child (i = 1) down to the end entity (i = n).
    let certs: Vec<_> = path.certs[..n].iter().rev().collect();
    let mut facts = Vec::with_capacity(n);
    for cert in &certs {
        facts.push(der_policies(&cert.der)?);
    }
    for (cert, f) in certs.iter().zip(&facts) {
        if f.mappings.iter().any(|(a, b)| a == ANY_POLICY || b == ANY_POLICY) {
            return Err(format!("\"{}\" maps anyPolicy (RFC 5280 6.1.4 (a))", cert.info.subject));
        }
    }
    if !facts.iter().any(|f| f.require_explicit.is_some()) {
        return Ok(());
    }
    let mut tree = Tree {
        nodes: vec![Node {
            depth: 0,
            valid: ANY_POLICY.into(),
            expected: vec![ANY_POLICY.into()],
            parent: None,
            alive: true,
        }],
    };
    let (mut explicit, mut mapping, mut inhibit_any) = (n + 1, n + 1, n + 1);
    for (index, (cert, f)) in certs.iter().zip(&facts).enumerate() {
        let i = index + 1;
        let self_issued = cert.is_self_issued();
        match &f.policies {
            Some(policies) if !tree.is_null() => {
                grow(&mut tree, i, policies, inhibit_any > 0 || (i < n && self_issued));
                tree.prune(i - 1);
            }
            _ => tree.kill(),
        }
        if tree.nodes.len() > MAX_NODES {
            return Err(format!("its certificate policies grow past {MAX_NODES} policy tree nodes"));
        }
        if explicit == 0 && tree.is_null() {
            return Err(format!(
                "a CA requires an explicit policy and no policy is valid for the path at \"{}\" (RFC 5280 6.1.3 (f))",
                cert.info.subject
            ));
        }
        if i == n {
            explicit = explicit.saturating_sub(1);
            if f.require_explicit == Some(0) {
                explicit = 0;
            }
            break;
        }
        apply_mappings(&mut tree, i, &f.mappings, mapping > 0);
        if !self_issued {
            explicit = explicit.saturating_sub(1);
            mapping = mapping.saturating_sub(1);
            inhibit_any = inhibit_any.saturating_sub(1);
        }
        if let Some(r) = f.require_explicit {
            explicit = explicit.min(r as usize);
        }
        if let Some(q) = f.inhibit_mapping {
            mapping = mapping.min(q as usize);
        }
        if let Some(skip) = f.inhibit_any {
            inhibit_any = inhibit_any.min(skip as usize);
        }
    }
    if explicit == 0 && tree.is_null() {
        return Err("a CA requires an explicit policy and no certificate policy is valid for the whole path (RFC 5280 6.1.5)".into());
    }
    Ok(())
}

/// 6.1.3 (d) (1), (2): the nodes of depth `i` for the policies of certificate i.
fn grow(tree: &mut Tree, i: usize, policies: &[String], any_allowed: bool) {
    let parents = tree.at(i - 1);
    for policy in policies.iter().filter(|p| *p != ANY_POLICY) {
        let matching: Vec<usize> =
            parents.iter().copied().filter(|&p| tree.nodes[p].expected.contains(policy)).collect();
        if matching.is_empty() {
            if let Some(&any) = parents.iter().find(|&&p| tree.nodes[p].valid == ANY_POLICY) {
                tree.add(any, policy, vec![policy.clone()]);
            }
        } else {
            for p in matching {
                tree.add(p, policy, vec![policy.clone()]);
            }
        }
    }
    if any_allowed && policies.iter().any(|p| p == ANY_POLICY) {
        for p in parents {
            for value in tree.nodes[p].expected.clone() {
                if !tree.has_child(p, Some(&value)) {
                    tree.add(p, &value, vec![value.clone()]);
                }
            }
        }
    }
}

/// 6.1.4 (b): policy mappings of certificate i, applied to the nodes of depth i.
fn apply_mappings(tree: &mut Tree, i: usize, mappings: &[(String, String)], allowed: bool) {
    let mut issuer_policies: Vec<&String> = mappings.iter().map(|(a, _)| a).collect();
    issuer_policies.dedup();
    for issuer_policy in issuer_policies {
        let mapped: Vec<String> =
            mappings.iter().filter(|(a, _)| a == issuer_policy).map(|(_, b)| b.clone()).collect();
        let nodes: Vec<usize> =
            tree.at(i).into_iter().filter(|&x| tree.nodes[x].valid == *issuer_policy).collect();
        if allowed {
            if nodes.is_empty() {
                let any_here = tree.at(i).into_iter().any(|x| tree.nodes[x].valid == ANY_POLICY);
                let any_above = tree.at(i - 1).into_iter().find(|&x| tree.nodes[x].valid == ANY_POLICY);
                if let (true, Some(parent)) = (any_here, any_above) {
                    tree.add(parent, issuer_policy, mapped);
                }
            } else {
                for x in nodes {
                    tree.nodes[x].expected = mapped.clone();
                }
            }
        } else {
            for x in nodes {
                tree.nodes[x].alive = false;
            }
            tree.prune(i - 1);
        }
    }
}
