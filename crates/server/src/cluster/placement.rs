//! Where a new call goes: the least loaded live node. No I/O: the store reads the nodes and
//! their recent placements, this picks.

use std::collections::HashMap;

use super::record::NodeRecord;

/// How loaded `node` is: its participants, plus one per call it hosts (an empty call still
/// holds a mixer), plus the calls placed on it since its last heartbeat (so a burst of new
/// calls spreads before the nodes report them).
pub(crate) fn load_score(node: &NodeRecord, placed_recently: u64) -> u64 {
    node.participants + node.calls + placed_recently
}

/// The least loaded of `nodes` (ties: lower CPU, then the name), or `None` if there are none.
pub(crate) fn least_loaded<'a>(
    nodes: &'a [NodeRecord],
    placed_recently: &HashMap<String, u64>,
) -> Option<&'a NodeRecord> {
    nodes.iter().min_by(|a, b| {
        let score =
            |n: &NodeRecord| load_score(n, placed_recently.get(&n.id).copied().unwrap_or(0));
        score(a)
            .cmp(&score(b))
            .then(a.cpu_percent.total_cmp(&b.cpu_percent))
            .then(a.id.cmp(&b.id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, participants: u64, calls: u64, cpu: f64) -> NodeRecord {
        NodeRecord {
            id: id.into(),
            url: format!("http://{id}"),
            calls,
            participants,
            connections: 0,
            cpu_percent: cpu,
            tick_mean_micros: 0,
            started_unix_ms: 0,
            heartbeat_unix_ms: 0,
        }
    }

    #[test]
    fn fewest_participants_wins() {
        let nodes = [
            node("a", 40, 2, 10.0),
            node("b", 3, 1, 50.0),
            node("c", 12, 1, 1.0),
        ];
        assert_eq!(least_loaded(&nodes, &HashMap::new()).unwrap().id, "b");
    }

    #[test]
    fn recent_placements_count_before_the_heartbeat_reports_them() {
        let nodes = [
            node("a", 0, 0, 0.0),
            node("b", 0, 0, 0.0),
            node("c", 0, 0, 0.0),
        ];
        let mut placed = HashMap::new();
        let mut order = Vec::new();
        for _ in 0..3 {
            let chosen = least_loaded(&nodes, &placed).unwrap().id.clone();
            *placed.entry(chosen.clone()).or_insert(0) += 1;
            order.push(chosen);
        }
        assert_eq!(
            order,
            ["a", "b", "c"],
            "three new calls spread over three idle nodes"
        );
    }

    #[test]
    fn ties_go_to_the_lower_cpu() {
        let nodes = [node("a", 5, 1, 30.0), node("b", 5, 1, 20.0)];
        assert_eq!(least_loaded(&nodes, &HashMap::new()).unwrap().id, "b");
        assert!(least_loaded(&[], &HashMap::new()).is_none());
    }
}
