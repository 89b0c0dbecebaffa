// Annotation queues, pairwise judgements and agreement statistics.
// Krippendorff's alpha follows K. Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011):
// alpha = 1 - D_o / D_e over the coincidence matrix of pairable values.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "atelier/store.h"
#include "memory/queries.h"
#include "memory/store_impl.h"

namespace atelier {

const char* to_string(Choice choice) {
    switch (choice) {
        case Choice::left: return "left";
        case Choice::right: return "right";
        case Choice::tie: return "tie";
        case Choice::skip: return "skip";
        default: return "invalid";
    }
}

Choice parse_choice(const std::string& text) {
    if (text == "left") return Choice::left;
    if (text == "right") return Choice::right;
    if (text == "tie") return Choice::tie;
    if (text == "skip") return Choice::skip;
    throw Error("choice: expected left, right, tie or skip, found '" + text + "'");
}

// ---- Krippendorff's alpha -----------------------------------------------------------------------

double krippendorff_alpha(const std::vector<std::vector<double>>& units, AlphaLevel level) {
    auto delta2 = [level](double c, double k) {
        if (level == AlphaLevel::nominal) return c == k ? 0.0 : 1.0;
        return (c - k) * (c - k);
    };
    // Coincidences: each unit with m values contributes its ordered pairs with weight 1/(m-1).
    std::map<double, double> n_c;   // value -> marginal count of pairable values
    double observed = 0;
    for (const auto& unit : units) {
        if (unit.size() < 2) continue;
        std::map<double, double> counts;
        for (double v : unit) counts[v] += 1;
        double within = 0;
        for (const auto& [c, nc] : counts)
            for (const auto& [k, nk] : counts) within += nc * nk * delta2(c, k);
        observed += within / double(unit.size() - 1);
        for (const auto& [c, nc] : counts) n_c[c] += nc;
    }
    double n = 0;
    for (const auto& [c, nc] : n_c) n += nc;
    if (n < 2) return std::numeric_limits<double>::quiet_NaN();
    double expected = 0;
    for (const auto& [c, nc] : n_c)
        for (const auto& [k, nk] : n_c) expected += nc * nk * delta2(c, k);
    const double d_o = observed / n, d_e = expected / (n * (n - 1));
    if (d_e == 0) return std::numeric_limits<double>::quiet_NaN();
    return 1.0 - d_o / d_e;
}

// ---- queues -------------------------------------------------------------------------------------

void Store::Impl::refresh_queue_item(int64_t item_id) {
    Stmt s(db, "UPDATE queue_items SET decided_count = (SELECT count(DISTINCT c.annotator_id) FROM comparisons c"
               " WHERE c.queue_item_id = queue_items.id AND c.undone_ms IS NULL AND c.choice BETWEEN 1 AND 3)"
               " WHERE id = ?");
    s.bind(1, item_id).run();
    Stmt o(db, "UPDATE queue_items SET open = (gold_choice <> 0 OR decided_count <"
               " (SELECT overlap FROM queues q WHERE q.id = queue_items.queue_id)) WHERE id = ?");
    o.bind(1, item_id).run();
}

int64_t Store::create_queue(const std::string& name, int64_t created_by, const std::vector<QueuePairInput>& pairs,
                            int overlap) {
    if (name.empty()) throw Error("queue name: must not be empty");
    if (overlap < 1) throw Error("queue '" + name + "' overlap: expected >= 1, found " + std::to_string(overlap));
    Db& db = impl_->db;
    Transaction t(db);
    Stmt q(db, "INSERT INTO queues (name, created_by, overlap, created_ms) VALUES (?, ?, ?, ?)");
    q.bind(1, name).bind_id(2, created_by).bind(3, overlap).bind(4, now_ms()).run();
    const int64_t id = db.last_insert_id();
    Stmt item(db, "INSERT INTO queue_items (queue_id, position, left_asset_id, right_asset_id, prompt, gold_choice)"
                  " VALUES (?, ?, ?, ?, ?, ?)");
    for (size_t i = 0; i < pairs.size(); ++i) {
        const QueuePairInput& p = pairs[i];
        if (p.left_asset_id == p.right_asset_id)
            throw Error("queue '" + name + "' pair " + std::to_string(i) + ": left and right are the same asset");
        item.reset();
        item.bind(1, id).bind(2, int64_t(i)).bind(3, p.left_asset_id).bind(4, p.right_asset_id).bind(5, p.prompt);
        item.bind(6, int(p.gold_choice)).run();
    }
    t.commit();
    return id;
}

namespace {
QueueInfo queue_from(const Stmt& s) {
    QueueInfo q;
    q.id = s.int64(0);
    q.name = s.text(1);
    q.created_by = s.int64(2);
    q.overlap = int(s.int64(3));
    q.created_ms = s.int64(4);
    q.total_items = s.int64(5);
    return q;
}
const char* k_queue_columns = "SELECT id, name, created_by, overlap, created_ms,"
                              " (SELECT count(*) FROM queue_items i WHERE i.queue_id = queues.id) FROM queues";
}  // namespace

std::vector<QueueInfo> Store::list_queues() {
    Stmt s(impl_->db, (std::string(k_queue_columns) + " ORDER BY id").c_str());
    std::vector<QueueInfo> out;
    while (s.step()) out.push_back(queue_from(s));
    return out;
}

QueueInfo Store::queue(int64_t id) {
    Stmt s(impl_->db, (std::string(k_queue_columns) + " WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) throw Error(impl_->db.path() + ": no queue with id " + std::to_string(id));
    return queue_from(s);
}

void Store::assign_annotator(int64_t queue_id, int64_t annotator_id) {
    Stmt s(impl_->db, "INSERT OR IGNORE INTO assignments (queue_id, profile_id, assigned_ms) VALUES (?, ?, ?)");
    s.bind(1, queue_id).bind(2, annotator_id).bind(3, now_ms()).run();
}

std::vector<int64_t> Store::queue_annotators(int64_t queue_id) {
    Stmt s(impl_->db, "SELECT profile_id FROM assignments WHERE queue_id = ? ORDER BY assigned_ms, profile_id");
    s.bind(1, queue_id);
    std::vector<int64_t> out;
    while (s.step()) out.push_back(s.int64(0));
    return out;
}

std::optional<QueuePair> Store::next_pair(int64_t queue_id, int64_t annotator_id) {
    Db& db = impl_->db;
    if (!impl_->options.read_only) {
        Stmt a(db, "SELECT 1 FROM assignments WHERE queue_id = ? AND profile_id = ?");
        a.bind(1, queue_id).bind(2, annotator_id);
        if (!a.step()) assign_annotator(queue_id, annotator_id);
    }
    // Onwards from the annotator's latest judgement; then from the start (pairs reopened by an undo).
    int64_t after = -1;
    {
        Stmt last(db, last_position_sql());
        last.bind(1, annotator_id).bind(2, queue_id);
        if (last.step()) after = last.int64(0);
    }
    Stmt s(db, next_pair_sql());
    s.bind(1, queue_id).bind(2, annotator_id).bind(3, after);
    if (!s.step()) {
        if (after < 0) return std::nullopt;
        s.reset();
        s.bind(3, int64_t(-1));
        if (!s.step()) return std::nullopt;
    }
    QueuePair p;
    p.queue_id = queue_id;
    p.item_id = s.int64(0);
    p.position = s.int64(1);
    p.left_asset_id = s.int64(2);
    p.right_asset_id = s.int64(3);
    p.prompt = s.text(4);
    p.is_gold = s.int64(5) != 0;
    return p;
}

std::vector<QueuePair> Store::upcoming_pairs(int64_t queue_id, int64_t annotator_id, int count) {
    std::vector<QueuePair> pairs;
    const std::optional<QueuePair> current = next_pair(queue_id, annotator_id);
    if (!current) return pairs;
    Stmt s(impl_->db, next_pair_sql());
    int64_t after = current->position;
    while (int(pairs.size()) < count) {
        s.reset();
        s.bind(1, queue_id).bind(2, annotator_id).bind(3, after);
        if (!s.step()) break;
        QueuePair p;
        p.queue_id = queue_id;
        p.item_id = s.int64(0);
        p.position = s.int64(1);
        p.left_asset_id = s.int64(2);
        p.right_asset_id = s.int64(3);
        p.prompt = s.text(4);
        p.is_gold = s.int64(5) != 0;
        pairs.push_back(p);
        after = p.position;
    }
    return pairs;
}

std::vector<int64_t> Store::queue_assets(int64_t queue_id) {
    Stmt s(impl_->db,
           "SELECT asset_id FROM (SELECT left_asset_id AS asset_id, position, 0 AS side FROM queue_items WHERE queue_id = ?1 "
           "UNION ALL SELECT right_asset_id, position, 1 FROM queue_items WHERE queue_id = ?1) "
           "GROUP BY asset_id ORDER BY MIN(position * 2 + side)");
    s.bind(1, queue_id);
    std::vector<int64_t> ids;
    while (s.step()) ids.push_back(s.int64(0));
    return ids;
}

namespace {
// Judgements per minute over active time: each gap between consecutive judgements is the time one
// took, and gaps over 5 minutes are breaks (counted as the median-free cap of 5 minutes).
double per_minute(const std::vector<int64_t>& times_ms) {
    if (times_ms.size() < 2) return 0;
    double active = 0;
    for (size_t i = 1; i < times_ms.size(); ++i) active += double(std::min<int64_t>(times_ms[i] - times_ms[i - 1], 300'000));
    return active > 0 ? double(times_ms.size() - 1) * 60'000.0 / active : 0;
}
}  // namespace

QueueProgress Store::queue_progress(int64_t queue_id, int64_t annotator_id) {
    Db& db = impl_->db;
    const QueueInfo q = queue(queue_id);
    QueueProgress p;
    p.total_items = q.total_items;
    {
        Stmt s(db, "SELECT count(*) FROM queue_items WHERE queue_id = ? AND decided_count >= ?");
        s.bind(1, queue_id).bind(2, q.overlap);
        s.step();
        p.done_items = s.int64(0);
    }
    std::vector<int64_t> times;
    if (annotator_id) {
        Stmt s(db, "SELECT created_ms FROM comparisons WHERE annotator_id = ? AND queue_id = ? AND undone_ms IS NULL"
                   " ORDER BY id DESC LIMIT 500");
        s.bind(1, annotator_id).bind(2, queue_id);
        while (s.step()) times.push_back(s.int64(0));
        Stmt r(db, "SELECT count(*) FROM queue_items i WHERE i.queue_id = ?1 AND i.open = 1 AND NOT EXISTS"
                   " (SELECT 1 FROM comparisons c WHERE c.queue_item_id = i.id AND c.annotator_id = ?2"
                   " AND c.undone_ms IS NULL)");
        r.bind(1, queue_id).bind(2, annotator_id);
        r.step();
        p.remaining_for_annotator = r.int64(0);
    } else {
        Stmt s(db, "SELECT created_ms FROM comparisons WHERE queue_id = ? AND undone_ms IS NULL"
                   " ORDER BY created_ms DESC LIMIT 500");
        s.bind(1, queue_id);
        while (s.step()) times.push_back(s.int64(0));
        p.remaining_for_annotator = q.total_items - p.done_items;
    }
    {
        Stmt n(db, annotator_id ? "SELECT count(*) FROM comparisons WHERE annotator_id = ?2 AND queue_id = ?1 AND undone_ms IS NULL"
                                : "SELECT count(*) FROM comparisons WHERE queue_id = ?1 AND undone_ms IS NULL");
        n.bind(1, queue_id);
        if (annotator_id) n.bind(2, annotator_id);
        n.step();
        p.judgements = n.int64(0);
    }
    std::sort(times.begin(), times.end());
    p.judgements_per_minute = per_minute(times);
    return p;
}

void Store::delete_queue(int64_t id) {
    Stmt s(impl_->db, "DELETE FROM queues WHERE id = ?");
    s.bind(1, id).run();
    if (impl_->db.changes() == 0) throw Error(impl_->db.path() + ": no queue with id " + std::to_string(id));
}

// ---- judgements ---------------------------------------------------------------------------------

namespace {

struct ItemRow {
    int64_t queue_id, left, right, gold;
    std::string prompt;
};

void insert_judgement(Db& db, Stmt& ins, Stmt& item_stmt, const Judgement& in, size_t index) {
    Judgement j = in;
    const std::string where = "judgement " + std::to_string(index);
    if (j.queue_item_id) {
        item_stmt.reset();
        item_stmt.bind(1, j.queue_item_id);
        if (!item_stmt.step()) throw Error(db.path() + ": " + where + ": no queue item " + std::to_string(j.queue_item_id));
        const int64_t queue_id = item_stmt.int64(0);
        if (j.queue_id && j.queue_id != queue_id)
            throw Error(where + ": queue item " + std::to_string(j.queue_item_id) + " belongs to queue " +
                        std::to_string(queue_id) + ", not " + std::to_string(j.queue_id));
        j.queue_id = queue_id;
        j.left_asset_id = item_stmt.int64(1);
        j.right_asset_id = item_stmt.int64(2);
        j.prompt = item_stmt.text(3);
        j.gold_choice = Choice(item_stmt.int64(4));
        j.is_gold = j.gold_choice != Choice::invalid;
    }
    if (j.annotator_id == 0) throw Error(where + ": annotator_id is required");
    if (j.choice == Choice::invalid) throw Error(where + ": choice must be left, right, tie or skip");
    if (j.strength < 0 || j.strength > 3)
        throw Error(where + ": strength expected 0..3, found " + std::to_string(j.strength));
    if (j.left_asset_id == 0 || j.right_asset_id == 0) throw Error(where + ": left and right assets are required");
    ins.reset();
    ins.bind(1, j.annotator_id).bind_id(2, j.queue_id).bind_id(3, j.queue_item_id).bind(4, j.left_asset_id);
    ins.bind(5, j.right_asset_id).bind(6, j.prompt).bind(7, int(j.choice)).bind(8, j.strength).bind(9, j.rationale);
    ins.bind(10, j.decision_ms).bind(11, j.session).bind(12, j.is_gold).bind(13, int(j.gold_choice));
    ins.bind(14, j.created_ms ? j.created_ms : now_ms()).run();
}

const char* k_insert_comparison =
    "INSERT INTO comparisons (annotator_id, queue_id, queue_item_id, left_asset_id, right_asset_id, prompt, choice,"
    " strength, rationale, decision_ms, session, is_gold, gold_choice, created_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const char* k_item_lookup =
    "SELECT queue_id, left_asset_id, right_asset_id, prompt, gold_choice FROM queue_items WHERE id = ?";

}  // namespace

int64_t Store::record_judgement(const Judgement& judgement) { return record_judgements({judgement}).front(); }

std::vector<int64_t> Store::record_judgements(const std::vector<Judgement>& judgements) {
    Db& db = impl_->db;
    std::vector<int64_t> ids;
    ids.reserve(judgements.size());
    Transaction t(db);
    Stmt ins(db, k_insert_comparison);
    Stmt item(db, k_item_lookup);
    Stmt bump(db, "UPDATE queue_items SET decided_count = decided_count + 1, open = (gold_choice <> 0 OR"
                  " decided_count + 1 < (SELECT overlap FROM queues q WHERE q.id = queue_items.queue_id)) WHERE id = ?");
    Stmt already(db, "SELECT count(*) FROM comparisons WHERE queue_item_id = ? AND annotator_id = ? AND undone_ms IS NULL"
                     " AND choice BETWEEN 1 AND 3 AND id <> ?");
    for (size_t i = 0; i < judgements.size(); ++i) {
        insert_judgement(db, ins, item, judgements[i], i);
        const int64_t id = db.last_insert_id();
        ids.push_back(id);
        const Judgement& j = judgements[i];
        if (j.queue_item_id && j.choice != Choice::skip) {
            already.reset();
            already.bind(1, j.queue_item_id).bind(2, j.annotator_id).bind(3, id);
            already.step();
            if (already.int64(0) == 0) {   // decided_count counts distinct annotators
                bump.reset();
                bump.bind(1, j.queue_item_id).run();
            }
        }
    }
    t.commit();
    return ids;
}

namespace {
const char* k_comparison_columns =
    "SELECT id, annotator_id, queue_id, queue_item_id, left_asset_id, right_asset_id, prompt, choice, strength, rationale,"
    " decision_ms, session, is_gold, gold_choice, created_ms, undone_ms FROM comparisons";

Comparison comparison_from(const Stmt& s) {
    Comparison c;
    c.id = s.int64(0);
    c.annotator_id = s.int64(1);
    c.queue_id = s.int64(2);
    c.queue_item_id = s.int64(3);
    c.left_asset_id = s.int64(4);
    c.right_asset_id = s.int64(5);
    c.prompt = s.text(6);
    c.choice = Choice(s.int64(7));
    c.strength = int(s.int64(8));
    c.rationale = s.text(9);
    c.decision_ms = s.int64(10);
    c.session = s.text(11);
    c.is_gold = s.int64(12) != 0;
    c.gold_choice = Choice(s.int64(13));
    c.created_ms = s.int64(14);
    c.undone = !s.is_null(15);
    c.undone_ms = s.int64(15);
    return c;
}
}  // namespace

std::optional<Comparison> Store::undo_last_judgement(int64_t annotator_id, int64_t queue_id) {
    Db& db = impl_->db;
    Transaction t(db);
    Stmt s(db, (std::string(k_comparison_columns) +
                " WHERE annotator_id = ? AND queue_id IS ? AND undone_ms IS NULL ORDER BY id DESC LIMIT 1").c_str());
    s.bind(1, annotator_id).bind_id(2, queue_id);
    if (!s.step()) return std::nullopt;
    Comparison c = comparison_from(s);
    c.undone = true;
    c.undone_ms = now_ms();
    Stmt u(db, "UPDATE comparisons SET undone_ms = ? WHERE id = ?");
    u.bind(1, c.undone_ms).bind(2, c.id).run();
    if (c.queue_item_id) impl_->refresh_queue_item(c.queue_item_id);
    t.commit();
    return c;
}

Comparison Store::comparison(int64_t id) {
    Stmt s(impl_->db, (std::string(k_comparison_columns) + " WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) throw Error(impl_->db.path() + ": no comparison with id " + std::to_string(id));
    return comparison_from(s);
}

std::vector<Comparison> Store::list_comparisons(int64_t annotator_id, int64_t queue_id, bool include_undone, int limit,
                                                int offset) {
    std::string sql = std::string(k_comparison_columns) + " WHERE annotator_id = ?1";
    if (queue_id >= 0) sql += " AND queue_id IS ?2";
    if (!include_undone) sql += " AND undone_ms IS NULL";
    sql += " ORDER BY id DESC LIMIT ?3 OFFSET ?4";
    Stmt s(impl_->db, sql.c_str());
    s.bind(1, annotator_id);
    if (queue_id >= 0) s.bind_id(2, queue_id);
    s.bind(3, limit).bind(4, offset);
    std::vector<Comparison> out;
    while (s.step()) out.push_back(comparison_from(s));
    return out;
}

// ---- agreement ----------------------------------------------------------------------------------

AgreementStats Store::agreement(int64_t queue_id) {
    Db& db = impl_->db;
    struct Row {
        int64_t annotator;
        int choice, strength, gold;
        int64_t created_ms;
    };
    std::map<int64_t, std::map<int64_t, Row>> items;   // item -> annotator -> latest live judgement
    std::map<int64_t, std::vector<int64_t>> times;     // annotator -> judgement times
    std::map<int64_t, int64_t> judged;                 // annotator -> judgements (skips included)
    {
        Stmt s(db, queue_id ? "SELECT queue_item_id, annotator_id, choice, strength, gold_choice, created_ms FROM comparisons"
                              " WHERE queue_id = ? AND undone_ms IS NULL AND queue_item_id IS NOT NULL ORDER BY id"
                            : "SELECT queue_item_id, annotator_id, choice, strength, gold_choice, created_ms FROM comparisons"
                              " WHERE queue_item_id IS NOT NULL AND undone_ms IS NULL ORDER BY id");
        if (queue_id) s.bind(1, queue_id);
        while (s.step()) {
            const Row r{s.int64(1), int(s.int64(2)), int(s.int64(3)), int(s.int64(4)), s.int64(5)};
            items[s.int64(0)][r.annotator] = r;
            times[r.annotator].push_back(r.created_ms);
            ++judged[r.annotator];
        }
    }
    AgreementStats stats;
    std::vector<std::vector<double>> choice_units, strength_units;
    struct Tally {
        int64_t decided = 0, majority_items = 0, with_majority = 0, gold_items = 0, with_gold = 0;
    };
    std::map<int64_t, Tally> tally;
    for (const auto& [item, by_annotator] : items) {
        std::vector<double> choices, strengths;
        std::map<int, int> counts;
        for (const auto& [annotator, r] : by_annotator) {
            if (r.choice == int(Choice::skip)) continue;
            choices.push_back(r.choice);
            ++counts[r.choice];
            ++tally[annotator].decided;
            if (r.choice == int(Choice::tie)) strengths.push_back(0);
            else if (r.strength > 0) strengths.push_back(r.choice == int(Choice::left) ? -r.strength : r.strength);
            if (r.gold != 0) {
                ++tally[annotator].gold_items;
                if (r.choice == r.gold) ++tally[annotator].with_gold;
            }
        }
        if (choices.size() >= 2) ++stats.items;
        if (strengths.size() >= 2) ++stats.strength_items;
        choice_units.push_back(std::move(choices));
        strength_units.push_back(std::move(strengths));
        // Majority of the *other* decided annotators (strict, among at least two).
        for (const auto& [annotator, r] : by_annotator) {
            if (r.choice == int(Choice::skip)) continue;
            std::map<int, int> others = counts;
            --others[r.choice];
            int total = 0, best = 0, best_count = 0;
            bool unique = false;
            for (const auto& [c, n] : others) {
                total += n;
                if (n > best_count) best = c, best_count = n, unique = true;
                else if (n == best_count) unique = false;
            }
            if (total >= 2 && unique && best_count * 2 > total) {
                ++tally[annotator].majority_items;
                if (r.choice == best) ++tally[annotator].with_majority;
            }
        }
    }
    stats.alpha_choice = krippendorff_alpha(choice_units, AlphaLevel::nominal);
    stats.alpha_strength = krippendorff_alpha(strength_units, AlphaLevel::interval);
    for (const auto& [annotator, count] : judged) {
        AnnotatorAgreement a;
        a.profile_id = annotator;
        Stmt n(db, "SELECT name FROM profiles WHERE id = ?");
        n.bind(1, annotator);
        if (n.step()) a.name = n.text(0);
        const Tally& t = tally[annotator];
        a.judgements = count;
        a.decided = t.decided;
        a.majority_items = t.majority_items;
        a.with_majority = t.majority_items ? double(t.with_majority) / double(t.majority_items) : 0;
        a.gold_items = t.gold_items;
        a.with_gold = t.gold_items ? double(t.with_gold) / double(t.gold_items) : 0;
        std::vector<int64_t>& ts = times[annotator];
        std::sort(ts.begin(), ts.end());
        a.judgements_per_minute = per_minute(ts);
        stats.annotators.push_back(a);
    }
    return stats;
}

}  // namespace atelier
