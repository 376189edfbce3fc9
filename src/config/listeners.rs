//! Kafka's listener keys: `listeners`, `advertised.listeners`,
//! `listener.security.protocol.map`, `inter.broker.listener.name` and
//! `controller.listener.names`, checked as Kafka's `KafkaConfig` checks them.
//!
//! A node has client listeners (every name of `listeners` that is not a controller
//! listener) and, with the controller role, a CONTROLLER listener. One client listener is
//! the inter-broker listener (`inter.broker.listener.name`, by default the one named
//! PLAINTEXT, Kafka's `security.inter.broker.protocol` default): other brokers replicate
//! and send transaction markers through it, and `--listen` / `--advertised-listener` set
//! its addresses. A client is told the brokers' endpoints of the listener it connected to.
//! Every listener maps to a security protocol; brokk serves PLAINTEXT only (TLS and SASL
//! come with issue 17), so a listener mapped to another is refused at start.

use std::collections::BTreeMap;

/// Kafka's `listener.security.protocol.map` default.
const DEFAULT_PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// Kafka's inter-broker listener when `inter.broker.listener.name` is not set.
pub const DEFAULT_INTER_BROKER: &str = "PLAINTEXT";

/// One entry of a listener list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// A client listener besides the inter-broker one: where it binds and what it advertises
/// (`None`: the bound address). When `advertised.listeners` is set, only the listeners it
/// names are advertised (registered with the controller), as Kafka's
/// `effectiveAdvertisedBrokerListeners`; the others accept connections but no broker is
/// reached through them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientListener {
    pub name: String,
    pub bind: (String, u16),
    pub advertised: Option<(String, u16)>,
    pub registered: bool,
}

/// Parses `NAME://host:port,...` (an empty host binds every interface, as Kafka).
pub fn parse_list(key: &str, v: &str) -> Result<Vec<Listener>, String> {
    let mut out: Vec<Listener> = vec![];
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, addr) = entry
            .split_once("://")
            .ok_or_else(|| format!("{key}: expected NAME://HOST:PORT, got {entry:?}"))?;
        let (host, port) = super::parse_host_port(addr).map_err(|e| format!("{key}: {e}"))?;
        if name.is_empty() {
            return Err(format!("{key}: a listener without a name in {entry:?}"));
        }
        if out.iter().any(|l| l.name == name) {
            return Err(format!(
                "{key}: Each listener must have a different name, listeners: {v}"
            ));
        }
        out.push(Listener {
            name: name.to_string(),
            host,
            port,
        });
    }
    Ok(out)
}

/// `listener.security.protocol.map` (Kafka's default when unset): listener name -> protocol.
pub fn protocol_map(v: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    let Some(v) = v else {
        return Ok(DEFAULT_PROTOCOLS
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect());
    };
    let mut out = BTreeMap::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("listener.security.protocol.map: expected NAME:PROTOCOL, got {entry:?}"))?;
        let protocol = protocol.trim().to_ascii_uppercase();
        if !DEFAULT_PROTOCOLS.contains(&protocol.as_str()) {
            return Err(format!(
                "listener.security.protocol.map: No enum constant org.apache.kafka.common.security.auth.SecurityProtocol.{protocol}"
            ));
        }
        out.insert(name.trim().to_string(), protocol);
    }
    Ok(out)
}

/// The client listeners of `listeners` (those not named in `controller.listener.names`).
pub fn client_listeners(listeners: &[Listener], controller_names: &[&str]) -> Vec<Listener> {
    listeners
        .iter()
        .filter(|l| !controller_names.contains(&l.name.as_str()))
        .cloned()
        .collect()
}

/// What the listener keys resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The inter-broker listener's name.
    pub inter_broker: String,
    /// Its bind address, when `listeners` names it.
    pub bind: Option<(String, u16)>,
    /// Its advertised address, when `advertised.listeners` names it.
    pub advertised: Option<(String, u16)>,
    /// The other client listeners.
    pub others: Vec<ClientListener>,
}

/// Resolves the listener keys of `get` (a node with the broker role when `broker`).
/// `strict` applies Kafka's checks (at start, once every source is applied); without it,
/// as each source is applied, whatever resolves is taken (a later source may complete it).
pub fn resolve(get: &dyn Fn(&str) -> Option<String>, broker: bool, strict: bool) -> Result<Resolved, String> {
    let controller_names: Vec<String> = get("controller.listener.names")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let controller_names: Vec<&str> = controller_names.iter().map(String::as_str).collect();
    let listeners = match get("listeners") {
        Some(v) => parse_list("listeners", &v)?,
        None => vec![],
    };
    let advertised = match get("advertised.listeners") {
        Some(v) => parse_list("advertised.listeners", &v)?,
        None => vec![],
    };
    let explicit_inter = get("inter.broker.listener.name").map(|s| s.trim().to_string());
    let inter_broker = explicit_inter
        .clone()
        .unwrap_or_else(|| DEFAULT_INTER_BROKER.to_string());
    let clients = client_listeners(&listeners, &controller_names);
    if strict {
        let protocols = protocol_map(get("listener.security.protocol.map").as_deref())?;
        for l in &listeners {
            let controller = controller_names.contains(&l.name.as_str());
            match protocols.get(&l.name).map(String::as_str) {
                Some("PLAINTEXT") => {}
                // Kafka maps an unmapped controller listener to PLAINTEXT.
                None if controller && get("listener.security.protocol.map").is_none() => {}
                None => {
                    return Err(format!(
                        "listeners: No security protocol defined for listener {}",
                        l.name
                    ));
                }
                Some(p) => {
                    return Err(format!(
                        "listeners: listener {} uses {p}; brokk serves PLAINTEXT only (TLS and SASL are not implemented yet)",
                        l.name
                    ));
                }
            }
        }
        let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
        if let Some(a) = advertised
            .iter()
            .find(|a| !names.contains(&a.name.as_str()) && get("listeners").is_some())
        {
            return Err(format!(
                "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners (no listener {})",
                a.name
            ));
        }
        if let Some(a) = advertised.iter().find(|a| a.host == "0.0.0.0" || a.host == "::") {
            return Err(format!(
                "advertised.listeners cannot use the nonroutable meta-address {}. Use a routable IP address.",
                a.host
            ));
        }
        if controller_names.contains(&inter_broker.as_str()) {
            return Err(format!(
                "inter.broker.listener.name must not be a controller listener ({inter_broker} is in controller.listener.names)"
            ));
        }
        let known = clients.iter().any(|l| l.name == inter_broker) || get("listeners").is_none();
        let advertised_too = get("advertised.listeners").is_none() || advertised.iter().any(|a| a.name == inter_broker);
        if broker && !(known && advertised_too) {
            let options: Vec<&str> = clients.iter().map(|l| l.name.as_str()).collect();
            return Err(format!(
                "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are {}",
                options.join(",")
            ));
        }
    }
    let find = |list: &[Listener], name: &str| list.iter().find(|l| l.name == name).map(|l| (l.host.clone(), l.port));
    // Leniently: a missing inter-broker listener is the first client listener.
    let inter_broker = if clients.iter().any(|l| l.name == inter_broker) || clients.is_empty() {
        inter_broker
    } else {
        clients[0].name.clone()
    };
    let others = clients
        .iter()
        .filter(|l| l.name != inter_broker)
        .map(|l| ClientListener {
            name: l.name.clone(),
            bind: (l.host.clone(), l.port),
            advertised: find(&advertised, &l.name),
            registered: get("advertised.listeners").is_none() || advertised.iter().any(|a| a.name == l.name),
        })
        .collect();
    Ok(Resolved {
        bind: find(&clients, &inter_broker),
        advertised: find(&advertised, &inter_broker),
        inter_broker,
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn docker_style_internal_and_external_listeners() {
        let get = props(&[
            (
                "listeners",
                "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:29092,CONTROLLER://:9093",
            ),
            (
                "advertised.listeners",
                "INTERNAL://broker1:9092,EXTERNAL://localhost:29092",
            ),
            (
                "listener.security.protocol.map",
                "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "INTERNAL"),
            ("controller.listener.names", "CONTROLLER"),
        ]);
        let r = resolve(&get, true, true).unwrap();
        assert_eq!(r.inter_broker, "INTERNAL");
        assert_eq!(r.bind, Some(("0.0.0.0".into(), 9092)));
        assert_eq!(r.advertised, Some(("broker1".into(), 9092)));
        assert_eq!(
            r.others,
            vec![ClientListener {
                name: "EXTERNAL".into(),
                bind: ("0.0.0.0".into(), 29092),
                advertised: Some(("localhost".into(), 29092)),
                registered: true,
            }]
        );
    }

    #[test]
    fn kafka_refuses_what_kafka_refuses() {
        for (pairs, why) in [
            (
                vec![("listeners", "INTERNAL://:9092")],
                "No security protocol defined for listener INTERNAL",
            ),
            (
                vec![
                    ("listeners", "INTERNAL://:9092"),
                    ("listener.security.protocol.map", "INTERNAL:PLAINTEXT"),
                ],
                "inter.broker.listener.name must be a listener name",
            ),
            (vec![("listeners", "SSL://:9093")], "brokk serves PLAINTEXT only"),
            (
                vec![("listeners", "PLAINTEXT://:9092,PLAINTEXT://:9093")],
                "Each listener must have a different name",
            ),
            (
                vec![
                    ("listeners", "PLAINTEXT://:9092"),
                    ("advertised.listeners", "OTHER://h:1"),
                ],
                "subset of the ones defined in listeners",
            ),
            (
                vec![("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")],
                "nonroutable meta-address",
            ),
            (
                vec![
                    ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                    ("controller.listener.names", "CONTROLLER"),
                    ("advertised.listeners", "CONTROLLER://h:9093"),
                ],
                "must be a listener name defined in advertised.listeners",
            ),
            (vec![("listener.security.protocol.map", "A:TLS")], "No enum constant"),
        ] {
            let e = resolve(&props(&pairs), true, true).unwrap_err();
            assert!(e.contains(why), "{pairs:?}: {e}");
        }
        // Leniently (as sources are applied one by one) the first client listener serves.
        let r = resolve(&props(&[("listeners", "INTERNAL://127.0.0.1:9092")]), true, false).unwrap();
        assert_eq!(
            (r.inter_broker.as_str(), r.bind),
            ("INTERNAL", Some(("127.0.0.1".into(), 9092)))
        );
        // The default: one PLAINTEXT listener.
        let r = resolve(&props(&[]), true, true).unwrap();
        assert_eq!(
            (r.inter_broker.as_str(), r.bind, r.others.len()),
            ("PLAINTEXT", None, 0)
        );
    }
}
