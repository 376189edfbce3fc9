//! Client quotas (DescribeClientQuotas, AlterClientQuotas): the quota values set per entity
//! (`user`, `client-id`, `ip`, each named or the default), validated as Kafka 4.0's
//! controller validates them and stored durably. brokk has no authentication yet, so the
//! values are kept and described but not enforced.
//!
//! Stored in `<data-dir>/client-quotas` (one `entity<TAB>key<TAB>value` line per value;
//! an entity is `type=name` pairs joined by `&`, names percent-encoded, a default entity's
//! name is `<default>`), rewritten atomically at every change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::log::LogError;
use crate::log::checkpoint;

/// One entity: (type, name) components sorted by type; `None` is the default entity.
pub type Entity = Vec<(String, Option<String>)>;

const FILE: &str = "client-quotas";
const DEFAULT_NAME: &str = "<default>";

/// The quota keys and whether each is an integer type (INT/LONG) or a DOUBLE, by entity kind.
fn key_type(key: &str, ip: bool) -> Option<KeyType> {
    match (key, ip) {
        ("producer_byte_rate" | "consumer_byte_rate", false) => Some(KeyType::Long),
        ("request_percentage" | "controller_mutation_rate", false) => Some(KeyType::Double),
        ("connection_creation_rate", true) => Some(KeyType::Int),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum KeyType {
    Int,
    Long,
    Double,
}

/// Kafka's `ClientQuotaEntity(entries={type=name, ...})` rendering (a Java HashMap).
pub fn render_entity(e: &Entity) -> String {
    let parts: Vec<String> = e
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

fn encode_name(n: &str) -> String {
    n.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode_name(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The stored quotas.
#[derive(Debug)]
pub struct ClientQuotas {
    path: PathBuf,
    entries: Mutex<BTreeMap<Entity, BTreeMap<String, f64>>>,
}

/// A failure of one alteration: INVALID_REQUEST with Kafka's message.
pub type QuotaError = String;

impl ClientQuotas {
    /// Loads the stored quotas of `dir` (none if the file is missing).
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(FILE);
        let mut entries: BTreeMap<Entity, BTreeMap<String, f64>> = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
                let mut f = line.split('\t');
                let (Some(e), Some(k), Some(v)) = (f.next(), f.next(), f.next()) else {
                    return Err(LogError::Invalid(format!("{}: bad line {line:?}", path.display())));
                };
                let entity: Option<Entity> = e
                    .split('&')
                    .map(|c| match c.split_once('=') {
                        Some((t, n)) if n == DEFAULT_NAME => Some((t.to_string(), None)),
                        Some((t, n)) => Some((t.to_string(), Some(decode_name(n)?))),
                        None => None,
                    })
                    .collect();
                let value: f64 = v
                    .parse()
                    .map_err(|_| LogError::Invalid(format!("{}: bad value in {line:?}", path.display())))?;
                let entity =
                    entity.ok_or_else(|| LogError::Invalid(format!("{}: bad entity in {line:?}", path.display())))?;
                entries.entry(entity).or_default().insert(k.to_string(), value);
            }
        }
        Ok(Self {
            path,
            entries: Mutex::new(entries),
        })
    }

    fn store(&self, entries: &BTreeMap<Entity, BTreeMap<String, f64>>) -> Result<(), LogError> {
        let mut text = String::from("# brokk client quotas: entity\tkey\tvalue\n");
        for (e, values) in entries {
            let entity: Vec<String> = e
                .iter()
                .map(|(t, n)| format!("{t}={}", n.as_deref().map_or(DEFAULT_NAME.to_string(), encode_name)))
                .collect();
            for (k, v) in values {
                text.push_str(&format!("{}\t{k}\t{v:?}\n", entity.join("&")));
            }
        }
        checkpoint::write_atomic(&self.path, &text)
    }

    /// Every entity with its values.
    pub fn all(&self) -> BTreeMap<Entity, BTreeMap<String, f64>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies `ops` (key, `Some(value)` to set, `None` to remove) to `entity`, checked as
    /// Kafka's ClientQuotaControlManager checks them; with `validate_only` nothing changes.
    /// Blocking (file write).
    pub fn alter(&self, entity: &Entity, ops: &[(String, Option<f64>)], validate_only: bool) -> Result<(), QuotaError> {
        validate_entity(entity)?;
        let ip = entity.iter().any(|(t, _)| t == "ip");
        for (key, value) in ops {
            let Some(v) = value else { continue };
            let ty = key_type(key, ip).ok_or_else(|| format!("Invalid configuration key {key}"))?;
            if *v <= 0.0 {
                return Err(format!("Quota {key} must be greater than 0"));
            }
            match ty {
                KeyType::Int if *v > i32::MAX as f64 => {
                    return Err(format!("Proposed value for {key} is too large for an INT."));
                }
                KeyType::Long if *v > i64::MAX as f64 => {
                    return Err(format!("Proposed value for {key} is too large for a LONG."));
                }
                KeyType::Int | KeyType::Long if (v - v.round()).abs() > 1e-6 => {
                    return Err(format!("{key} cannot be a fractional value."));
                }
                _ => {}
            }
        }
        if validate_only {
            return Ok(());
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = entries.clone();
        let values = next.entry(entity.clone()).or_default();
        for (key, value) in ops {
            match value {
                Some(v) => {
                    values.insert(key.clone(), *v);
                }
                None => {
                    values.remove(key);
                }
            }
        }
        if values.is_empty() {
            next.remove(entity);
        }
        if next != *entries {
            self.store(&next)
                .map_err(|e| format!("storing the quotas failed: {e}"))?;
            *entries = next;
        }
        Ok(())
    }
}

/// Kafka's entity checks (ClientQuotaControlManager).
fn validate_entity(entity: &Entity) -> Result<(), QuotaError> {
    if entity.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    for (t, n) in entity {
        if !matches!(t.as_str(), "user" | "client-id" | "ip") {
            return Err(format!("Unhandled client quota entity type: {t}"));
        }
        if n.as_deref() == Some("") {
            return Err(format!("Empty {t} not supported"));
        }
    }
    let has = |t: &str| entity.iter().any(|(x, _)| x == t);
    if has("ip") && (has("user") || has("client-id")) {
        return Err("Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId".into());
    }
    if let Some((_, Some(ip))) = entity.iter().find(|(t, _)| t == "ip")
        && ip.parse::<std::net::IpAddr>().is_err()
        && (ip.as_str(), 0).to_socket_addrs_ok().is_none()
    {
        return Err(format!("{ip} is not a valid IP or resolvable host."));
    }
    Ok(())
}

/// Host-name resolution for `ip` entities (Kafka's `InetAddress.getByName`).
trait Resolvable {
    fn to_socket_addrs_ok(&self) -> Option<()>;
}

impl Resolvable for (&str, u16) {
    fn to_socket_addrs_ok(&self) -> Option<()> {
        use std::net::ToSocketAddrs;
        self.to_socket_addrs().ok()?.next().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: Option<&str>) -> Entity {
        vec![("user".into(), n.map(str::to_string))]
    }

    #[test]
    fn quotas_validate_persist_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let q = ClientQuotas::open(dir.path()).unwrap();
        let set = |k: &str, v: f64| vec![(k.to_string(), Some(v))];
        q.alter(&user(Some("al ice")), &set("producer_byte_rate", 1024.0), false)
            .unwrap();
        q.alter(&user(None), &set("request_percentage", 12.5), false).unwrap();
        assert_eq!(
            q.alter(&user(Some("a")), &set("producer_byte_rate", 1.5), false)
                .unwrap_err(),
            "producer_byte_rate cannot be a fractional value."
        );
        assert_eq!(
            q.alter(&user(Some("a")), &set("nope", 1.0), false).unwrap_err(),
            "Invalid configuration key nope"
        );
        assert_eq!(
            q.alter(&user(Some("a")), &set("consumer_byte_rate", 0.0), false)
                .unwrap_err(),
            "Quota consumer_byte_rate must be greater than 0"
        );
        assert_eq!(
            q.alter(&user(Some("")), &set("consumer_byte_rate", 1.0), false)
                .unwrap_err(),
            "Empty user not supported"
        );
        let both = vec![
            ("ip".to_string(), Some("1.2.3.4".to_string())),
            ("user".to_string(), None),
        ];
        assert!(
            q.alter(&both, &set("connection_creation_rate", 1.0), false)
                .unwrap_err()
                .contains("shouldnot")
        );
        let ip = vec![("ip".to_string(), Some("10.0.0.1".to_string()))];
        q.alter(&ip, &set("connection_creation_rate", 5.0), false).unwrap();
        assert_eq!(
            q.alter(&ip, &set("producer_byte_rate", 5.0), false).unwrap_err(),
            "Invalid configuration key producer_byte_rate"
        );
        let reopened = ClientQuotas::open(dir.path()).unwrap();
        assert_eq!(reopened.all(), q.all());
        assert_eq!(reopened.all().len(), 3);
        q.alter(&user(None), &[("request_percentage".to_string(), None)], false)
            .unwrap();
        assert_eq!(ClientQuotas::open(dir.path()).unwrap().all().len(), 2);
        assert_eq!(render_entity(&user(None)), "ClientQuotaEntity(entries={user=null})");
    }
}
