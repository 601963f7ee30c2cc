//! Group nesting: the limit on how deep groups may nest, the queries that
//! walk the nesting (written once for both databases), and the judgement a
//! write that adds groups to a group must pass before it commits: no cycle,
//! no chain of groups longer than [`MAX_GROUP_NESTING`]. It judges edges the
//! backend read inside the write's transaction; it never reads by itself.

use std::collections::{HashMap, HashSet, VecDeque};

use uuid::Uuid;

use super::MemberKind;

/// The longest chain of groups, each inside the next, that a write may
/// create: a user of the innermost group inherits from at most this many
/// levels. 32 is what the nesting query cut at before it was enforced (so no
/// directory that worked loses anything) and far beyond what directories
/// use (Entra ID and AD rarely go past a handful). Reads never cut at it:
/// they visit each group once, however the data is nested.
pub const MAX_GROUP_NESTING: usize = 32;

/// The membership edges (member group, parent group) above `$1`: every
/// group it is in, directly or not, each visited once (`UNION`), so a
/// cycle already stored ends the walk instead of looping.
pub(crate) const EDGES_ABOVE: &str = "WITH RECURSIVE up(id) AS (
         SELECT $1
         UNION
         SELECT gm.group_id FROM up JOIN group_members gm ON gm.member_id = up.id
     )
     SELECT gm.member_id, gm.group_id FROM up JOIN group_members gm ON gm.member_id = up.id";

/// The membership edges (member group, parent group) below `$1`: every
/// group inside it, each visited once. The partial index
/// `group_members_nested` keeps this off the (many) user rows.
pub(crate) const EDGES_BELOW: &str = "WITH RECURSIVE down(id) AS (
         SELECT $1
         UNION
         SELECT gm.member_id FROM down JOIN group_members gm
             ON gm.group_id = down.id AND gm.member_kind = 'Group'
     )
     SELECT gm.member_id, gm.group_id FROM down JOIN group_members gm
         ON gm.group_id = down.id AND gm.member_kind = 'Group'";

/// Why a write that nests groups is refused, with the groups named by
/// displayName (unique within an IAM), falling back to the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NestingRefusal {
    /// `cycle` starts and ends with the group written to; each contains
    /// the next.
    Cycle {
        group: String,
        added: String,
        cycle: Vec<String>,
    },
    /// Groups around the one written to already nest in a cycle (stored
    /// before writes refused them); each contains the next.
    StoredCycle {
        group: String,
        added: String,
        cycle: Vec<String>,
    },
    /// The longest chain of groups through the group written to would be
    /// `depth` long (past the limit, counted no further than one past it).
    TooDeep {
        group: String,
        added: String,
        depth: usize,
    },
}

impl std::fmt::Display for NestingRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cycle {
                group,
                added,
                cycle,
            } => write!(
                f,
                "adding group {added} to {group} would make a cycle: {} \
                 (each group contains the next)",
                cycle.join(" → ")
            ),
            Self::StoredCycle {
                group,
                added,
                cycle,
            } => write!(
                f,
                "cannot add group {added} to {group}: groups there already nest in a cycle \
                 (stored before cycles were refused): {}; remove one of its memberships first",
                cycle.join(" → ")
            ),
            Self::TooDeep { group, added, .. } => write!(
                f,
                "adding group {added} to {group} would nest groups more than \
                 {MAX_GROUP_NESTING} levels deep; groups may nest at most \
                 {MAX_GROUP_NESTING} levels deep"
            ),
        }
    }
}

/// What is wrong with the nesting around `group` once `added` (its new
/// group members) are in, by id: a cycle through a new membership, as the
/// groups along it from `group` back to `group`; or a chain through
/// `group` longer than the limit. `above` and `below` are the edges
/// `EDGES_ABOVE` and `EDGES_BELOW` read for `group`, as (member, parent).
pub(crate) fn judge(
    group: Uuid,
    added: &[Uuid],
    above: &[(Uuid, Uuid)],
    below: &[(Uuid, Uuid)],
) -> Option<Judgement> {
    let parents = adjacency(above.iter().map(|&(m, p)| (m, p)));
    if let Some((added, path)) = path_up_to_any(group, added, &parents) {
        // `path` climbs from `group` to `added`; as containment it reads
        // backwards, and the new membership closes it.
        let mut cycle = vec![group];
        cycle.extend(path.iter().rev().copied());
        return Some(Judgement::Cycle { added, cycle });
    }
    let children = adjacency(below.iter().map(|&(m, p)| (p, m)));
    let depth = levels(group, &parents) + levels(group, &children) - 1;
    if depth <= MAX_GROUP_NESTING {
        return None;
    }
    let added = added.first().copied().unwrap_or(group);
    // A chain that never ends is a cycle stored before writes refused
    // them: name it, since "too deep" would not tell what to remove.
    let stored = find_cycle(group, &children).or_else(|| {
        find_cycle(group, &parents).map(|mut c| {
            c.reverse();
            c
        })
    });
    Some(match stored {
        Some(cycle) => Judgement::StoredCycle { added, cycle },
        None => Judgement::TooDeep { added, depth },
    })
}

/// [`judge`]'s finding, by id, for the backend to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judgement {
    Cycle { added: Uuid, cycle: Vec<Uuid> },
    StoredCycle { added: Uuid, cycle: Vec<Uuid> },
    TooDeep { added: Uuid, depth: usize },
}

impl Judgement {
    /// Every group the refusal names.
    pub(crate) fn groups(&self, group: Uuid) -> Vec<Uuid> {
        let mut ids = match self {
            Self::Cycle { cycle, added } | Self::StoredCycle { cycle, added } => {
                let mut ids = cycle.clone();
                ids.push(*added);
                ids
            }
            Self::TooDeep { added, .. } => vec![*added],
        };
        ids.push(group);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The refusal, with each group named by `names` (the id where absent).
    pub(crate) fn name(self, group: Uuid, names: &HashMap<Uuid, String>) -> NestingRefusal {
        let name = |id: &Uuid| match names.get(id) {
            Some(n) => format!("\"{n}\""),
            None => id.to_string(),
        };
        match self {
            Self::Cycle { added, cycle } => NestingRefusal::Cycle {
                group: name(&group),
                added: name(&added),
                cycle: cycle.iter().map(name).collect(),
            },
            Self::StoredCycle { added, cycle } => NestingRefusal::StoredCycle {
                group: name(&group),
                added: name(&added),
                cycle: cycle.iter().map(name).collect(),
            },
            Self::TooDeep { added, depth } => NestingRefusal::TooDeep {
                group: name(&group),
                added: name(&added),
                depth,
            },
        }
    }
}

/// The groups among `members` that `added` (what the insert reported as
/// new) holds: the memberships a write must have judged.
pub(crate) fn added_groups(members: &[(Uuid, MemberKind)], added: &[Uuid]) -> Vec<Uuid> {
    if !members.iter().any(|(_, k)| *k == MemberKind::Group) {
        return Vec::new();
    }
    let added: HashSet<&Uuid> = added.iter().collect();
    members
        .iter()
        .filter(|(m, k)| *k == MemberKind::Group && added.contains(m))
        .map(|(m, _)| *m)
        .collect()
}

fn adjacency(edges: impl Iterator<Item = (Uuid, Uuid)>) -> HashMap<Uuid, Vec<Uuid>> {
    let mut next: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (from, to) in edges {
        next.entry(from).or_default().push(to);
    }
    next
}

/// The shortest climb from `start` to any of `targets` (both ends
/// included), breadth first, each group visited once.
fn path_up_to_any(
    start: Uuid,
    targets: &[Uuid],
    parents: &HashMap<Uuid, Vec<Uuid>>,
) -> Option<(Uuid, Vec<Uuid>)> {
    let targets: HashSet<Uuid> = targets.iter().copied().collect();
    let mut came_from: HashMap<Uuid, Uuid> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    let mut seen = HashSet::from([start]);
    while let Some(at) = queue.pop_front() {
        if targets.contains(&at) {
            let mut path = vec![at];
            let mut cur = at;
            while let Some(&prev) = came_from.get(&cur) {
                path.push(prev);
                cur = prev;
            }
            path.reverse();
            return Some((at, path));
        }
        for &p in parents.get(&at).into_iter().flatten() {
            if seen.insert(p) {
                came_from.insert(p, at);
                queue.push_back(p);
            }
        }
    }
    None
}

/// How many groups the longest chain from `start` along `next` holds,
/// `start` included, capped one past the limit: one set of groups per
/// level, so diamonds cost nothing extra and a stored cycle stops at the
/// cap instead of looping.
fn levels(start: Uuid, next: &HashMap<Uuid, Vec<Uuid>>) -> usize {
    let mut level: HashSet<Uuid> = HashSet::from([start]);
    let mut count = 1;
    while count <= MAX_GROUP_NESTING {
        let up: HashSet<Uuid> = level
            .iter()
            .flat_map(|g| next.get(g).into_iter().flatten().copied())
            .collect();
        if up.is_empty() {
            break;
        }
        level = up;
        count += 1;
    }
    count
}

/// A cycle reachable from `start` along `next`, as the groups along it
/// with the first repeated at the end; depth first, iteratively, each group
/// entered once.
fn find_cycle(start: Uuid, next: &HashMap<Uuid, Vec<Uuid>>) -> Option<Vec<Uuid>> {
    let mut stack: Vec<(Uuid, usize)> = vec![(start, 0)];
    let mut on_path: HashSet<Uuid> = HashSet::from([start]);
    let mut seen: HashSet<Uuid> = HashSet::from([start]);
    while let Some(&(node, i)) = stack.last() {
        let Some(&child) = next.get(&node).and_then(|n| n.get(i)) else {
            on_path.remove(&node);
            stack.pop();
            continue;
        };
        if let Some(top) = stack.last_mut() {
            top.1 += 1;
        }
        if on_path.contains(&child) {
            let from = stack.iter().position(|(n, _)| *n == child)?;
            let mut cycle: Vec<Uuid> = stack[from..].iter().map(|(n, _)| *n).collect();
            cycle.push(child);
            return Some(cycle);
        }
        if seen.insert(child) {
            on_path.insert(child);
            stack.push((child, 0));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|i| Uuid::from_u128(i as u128 + 1)).collect()
    }

    #[test]
    fn a_cycle_is_named_from_the_group_written_to() {
        let g = ids(3);
        // g1 in g0 is new; g0 is already in g2, which is in g1.
        let above = [(g[0], g[2]), (g[2], g[1])];
        let j = judge(g[0], &[g[1]], &above, &[(g[1], g[0])]).unwrap();
        assert_eq!(
            j,
            Judgement::Cycle {
                added: g[1],
                cycle: vec![g[0], g[1], g[2], g[0]]
            }
        );
        let names = g
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, ["A", "B", "C"][i].to_owned()))
            .collect();
        assert_eq!(
            j.name(g[0], &names).to_string(),
            "adding group \"B\" to \"A\" would make a cycle: \"A\" → \"B\" → \"C\" → \"A\" \
             (each group contains the next)"
        );
    }

    #[test]
    fn a_group_in_itself_is_a_cycle() {
        let g = ids(1);
        let j = judge(g[0], &[g[0]], &[(g[0], g[0])], &[(g[0], g[0])]);
        assert!(matches!(j, Some(Judgement::Cycle { .. })));
    }

    #[test]
    fn depth_counts_groups_above_and_below() {
        let g = ids(MAX_GROUP_NESTING + 1);
        let chain: Vec<(Uuid, Uuid)> = g.windows(2).map(|w| (w[0], w[1])).collect();
        let (below, above) = chain.split_at(10);
        // g10 gets g9 (new): 11 groups below and including, 23 above.
        assert_eq!(
            judge(g[10], &[g[9]], above, below),
            Some(Judgement::TooDeep {
                added: g[9],
                depth: MAX_GROUP_NESTING + 1
            })
        );
        assert_eq!(judge(g[10], &[g[9]], above, &below[1..]), None);
    }

    #[test]
    fn diamonds_are_neither_cycles_nor_deep() {
        // 12 layers of 4, each group in all 4 of the next.
        let g = ids(48);
        let mut edges = Vec::new();
        for layer in 0..11 {
            for a in 0..4 {
                for b in 0..4 {
                    edges.push((g[layer * 4 + a], g[(layer + 1) * 4 + b]));
                }
            }
        }
        let (below, above): (Vec<_>, Vec<_>) = edges.iter().partition(|(_, p)| *p < g[4 * 6]);
        assert_eq!(judge(g[20], &[g[16]], &above, &below), None);
        assert_eq!(levels(g[0], &adjacency(edges.iter().copied())), 12);
    }

    #[test]
    fn a_stored_cycle_is_named_rather_than_called_deep() {
        let g = ids(3);
        // g1 and g2 already contain each other; g1 goes into g0.
        let below = [(g[1], g[0]), (g[2], g[1]), (g[1], g[2])];
        assert_eq!(
            judge(g[0], &[g[1]], &[], &below),
            Some(Judgement::StoredCycle {
                added: g[1],
                cycle: vec![g[1], g[2], g[1]]
            })
        );
    }
}
