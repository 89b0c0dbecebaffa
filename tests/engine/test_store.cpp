// labels: fast
// links: core
// The store's everyday API: profiles, assets, concepts, generations, queues and judgements,
// memory with history and undo, reward models, deleting a profile, gc and check.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "atelier/store.h"
#include "memory/sha256.h"
#include "memory/tar.h"
#include "store_test_util.h"

namespace fs = std::filesystem;
using namespace atelier;
using store_test::picture;
using store_test::TempDir;

namespace {
std::unique_ptr<Store> open_at(const TempDir& dir) {
    StoreOptions o;
    o.data_dir = dir.str();
    return Store::open(o);
}
}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors") {
    CHECK(sha256_hex(std::string("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex(std::string("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex(std::string("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // One million 'a', fed in uneven pieces to exercise the buffering.
    Sha256 h;
    const std::string chunk(997, 'a');
    size_t left = 1000000;
    while (left) {
        const size_t n = std::min(left, chunk.size());
        h.update(chunk.data(), n);
        left -= n;
    }
    CHECK(h.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("ustar archives round-trip and damaged ones are refused") {
    std::vector<TarEntry> in = {{"manifest.json", {'{', '}'}}, {"assets/" + std::string(64, 'a') + ".png", {}},
                                {"deep/" + std::string(120, 'x') + "/f.txt", std::vector<uint8_t>(1000, 7)}};
    const auto archive = tar_pack(in);
    CHECK(archive.size() % 512 == 0);
    const auto out = tar_unpack(archive, "t.tar");
    REQUIRE(out.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
        CHECK(out[i].name == in[i].name);
        CHECK(out[i].bytes == in[i].bytes);
    }
    auto damaged = archive;
    damaged[10] ^= 1;   // inside the first header's name: checksum no longer matches
    CHECK_THROWS_WITH_AS(tar_unpack(damaged, "t.tar"), doctest::Contains("checksum"), Error);
    auto truncated = std::vector<uint8_t>(archive.begin(), archive.begin() + 700);
    CHECK_THROWS_AS(tar_unpack(truncated, "t.tar"), Error);
    CHECK_THROWS_AS(tar_pack({{"../evil", {}}}), Error);
}

TEST_CASE("profiles: create, find, update, unique names, validated role") {
    TempDir dir("store-profiles");
    auto store = open_at(dir);
    CHECK(store->schema_version() == Store::latest_schema_version());
    const Profile ada = store->create_profile("ada", "annotator", R"({"theme":"dark"})");
    CHECK(ada.id > 0);
    CHECK_THROWS_WITH_AS(store->create_profile("ada"), doctest::Contains("already exists"), Error);
    CHECK_THROWS_WITH_AS(store->create_profile("bob", "wizard"), doctest::Contains("role"), Error);
    CHECK_THROWS_AS(store->create_profile("bob", "designer", "{not json"), Error);
    Profile changed = store->profile(ada.id);
    CHECK(changed.settings_json == R"({"theme":"dark"})");
    changed.role = "designer";
    store->update_profile(changed);
    CHECK(store->find_profile("ada")->role == "designer");
    CHECK(store->ensure_profile("ada").id == ada.id);
    CHECK(store->list_profiles().size() == 1);
    CHECK_FALSE(store->find_profile("nobody").has_value());
}

TEST_CASE("assets are content-addressed: the same picture is stored once, with a thumbnail") {
    TempDir dir("store-assets");
    auto store = open_at(dir);
    const AssetInfo a = store->import_asset(picture(1, 600, 300));
    CHECK(a.newly_stored);
    CHECK(a.width == 600);
    CHECK(a.height == 300);
    CHECK(a.sha256.size() == 64);
    CHECK(a.path == dir.str() + "/assets/" + a.sha256.substr(0, 2) + "/" + a.sha256 + ".png");
    std::ifstream stored(a.path, std::ios::binary);
    CHECK(sha256_hex(std::vector<uint8_t>(std::istreambuf_iterator<char>(stored), std::istreambuf_iterator<char>())) ==
          a.sha256);
    const AssetInfo again = store->import_asset(picture(1, 600, 300));
    CHECK_FALSE(again.newly_stored);
    CHECK(again.id == a.id);
    const Image thumb = store->load_thumbnail(a.id);
    CHECK(thumb.width == 256);
    CHECK(thumb.height == 128);
    CHECK(store->load_asset(a.id).pixels == picture(1, 600, 300).pixels);

    // A file on disk: same pixels via PNG file give the same hash as the PNG bytes.
    const std::string file = (dir.path / "in.png").string();
    write_png(file, picture(2));
    const AssetInfo f1 = store->import_asset(file);
    const AssetInfo f2 = store->import_asset(file);
    CHECK(f1.id == f2.id);
    CHECK(f1.source_name == "in.png");
    CHECK(store->stats().assets == 2);
    CHECK(store->find_asset(f1.sha256)->id == f1.id);
    CHECK_THROWS_AS(store->import_asset((dir.path / "missing.png").string()), Error);
}

TEST_CASE("deleting a concept removes its own trained file and checkpoint, never a file from elsewhere") {
    TempDir dir("store-concept-delete");
    auto store = open_at(dir);
    auto write = [](const fs::path& p) {
        fs::create_directories(p.parent_path());
        std::ofstream(p) << "x";
        return p.string();
    };
    Concept trained;
    trained.name = "mug";
    trained.trigger_token = "<mug>";
    trained.artifact_path = write(fs::path(store->data_dir()) / "concepts" / "1-mug-lora.safetensors");
    write(trained.artifact_path + ".ckpt");
    const int64_t a = store->create_concept(trained);
    Concept imported = trained;
    imported.name = "film look";
    imported.artifact_path = write(dir.path / "downloads" / "film.safetensors");
    const int64_t b = store->create_concept(imported);

    store->delete_concept(a);
    CHECK_FALSE(fs::exists(trained.artifact_path));
    CHECK_FALSE(fs::exists(trained.artifact_path + ".ckpt"));
    store->delete_concept(b);
    CHECK(fs::exists(imported.artifact_path));  // the person's own file
    CHECK(store->list_concepts().empty());
    CHECK_THROWS_WITH_AS(store->delete_concept(a), doctest::Contains("no concept with id"), Error);
}

TEST_CASE("concepts and generations keep every field") {
    TempDir dir("store-concepts");
    auto store = open_at(dir);
    const Profile me = store->create_profile("me");
    const int64_t r1 = store->import_asset(picture(1)).id, r2 = store->import_asset(picture(2)).id;
    Concept c;
    c.profile_id = me.id;
    c.name = "my cat";
    c.trigger_token = "<my-cat>";
    c.class_word = "cat";
    c.method = "lora";
    c.reference_asset_ids = {r2, r1};
    const int64_t id = store->create_concept(c);
    Concept back = store->concept_by_id(id);
    CHECK(back.trigger_token == "<my-cat>");
    CHECK(back.reference_asset_ids == std::vector<int64_t>{r2, r1});
    back.status = "ready";
    back.metrics_json = R"({"loss":0.12})";
    back.reference_asset_ids = {r1};
    store->update_concept(back);
    CHECK(store->concept_by_id(id).status == "ready");
    CHECK(store->concept_by_id(id).reference_asset_ids == std::vector<int64_t>{r1});
    c.method = "dreambooth";
    CHECK_THROWS_WITH_AS(store->create_concept(c), doctest::Contains("method"), Error);
    CHECK(store->list_concepts(me.id).size() == 1);

    GenerationRecord g;
    g.profile_id = me.id;
    g.asset_id = r1;
    g.model_id = "tiny-sd-a";
    g.prompt = "a <my-cat> on a sofa";
    g.effective_prompt = "a <my-cat> on a sofa, warm light";
    g.seed = 18446744073709551557ull;   // above INT64_MAX: must survive the int64 column
    g.sampler = "euler_a";
    g.steps = 20;
    g.guidance = 7.5f;
    g.width = 512;
    g.height = 512;
    g.concepts = {{"<my-cat>", 0.8f}};
    g.loras = {{"film", 0.5f}};
    const int64_t gid = store->record_generation(g);
    const GenerationRecord gb = store->generation(gid);
    CHECK(gb.seed == g.seed);
    CHECK(gb.effective_prompt == g.effective_prompt);
    REQUIRE(gb.loras.size() == 1);
    CHECK(gb.loras[0].name == "film");
    CHECK(gb.loras[0].strength == doctest::Approx(0.5));
    CHECK(store->list_generations(me.id).size() == 1);
}

TEST_CASE("queue: next_pair respects overlap, undo puts the pair back, progress counts") {
    TempDir dir("store-queue");
    auto store = open_at(dir);
    const Profile ann1 = store->create_profile("ann1", "annotator"), ann2 = store->create_profile("ann2", "annotator"),
                  ann3 = store->create_profile("ann3", "annotator");
    std::vector<int64_t> assets;
    for (int i = 0; i < 6; ++i) assets.push_back(store->import_asset(picture(i)).id);
    std::vector<QueuePairInput> pairs = {{assets[0], assets[1], "p0"}, {assets[2], assets[3], "p1"},
                                         {assets[4], assets[5], "p2"}};
    const int64_t q = store->create_queue("q", ann1.id, pairs, /*overlap=*/2);
    CHECK(store->queue(q).total_items == 3);

    auto judge = [&](const Profile& who, Choice choice) {
        auto pair = store->next_pair(q, who.id);
        REQUIRE(pair.has_value());
        Judgement j;
        j.annotator_id = who.id;
        j.queue_item_id = pair->item_id;
        j.choice = choice;
        j.strength = 2;
        store->record_judgement(j);
        return *pair;
    };
    // Prefetch: the pairs after the one next_pair() shows, in the order they will come.
    const auto upcoming = store->upcoming_pairs(q, ann1.id, 5);
    REQUIRE(upcoming.size() == 2);
    CHECK(upcoming[0].prompt == "p1");
    CHECK(upcoming[1].prompt == "p2");
    CHECK(judge(ann1, Choice::left).prompt == "p0");
    CHECK(store->upcoming_pairs(q, ann1.id, 5).size() == 1);
    CHECK(judge(ann1, Choice::skip).prompt == "p1");   // a skip: ann1 has seen it, it still needs two decisions
    CHECK(judge(ann1, Choice::right).prompt == "p2");
    CHECK_FALSE(store->next_pair(q, ann1.id).has_value());
    CHECK(judge(ann2, Choice::left).prompt == "p0");   // p0 now has its two decisions
    CHECK(judge(ann3, Choice::tie).prompt == "p1");    // ann3 never sees p0
    QueueProgress progress = store->queue_progress(q);
    CHECK(progress.total_items == 3);
    CHECK(progress.done_items == 1);
    CHECK(progress.judgements == 5);

    // Undo ann2's decision on p0: p0 is open again and comes back to ann2 first.
    const auto undone = store->undo_last_judgement(ann2.id, q);
    REQUIRE(undone.has_value());
    CHECK(undone->prompt == "p0");
    CHECK(store->comparison(undone->id).undone);   // kept, marked
    CHECK(store->queue_progress(q).done_items == 0);
    CHECK(store->next_pair(q, ann2.id)->prompt == "p0");
    CHECK(store->list_comparisons(ann2.id, q, /*include_undone=*/true).size() == 1);
    CHECK(store->list_comparisons(ann2.id, q).empty());
    CHECK(store->queue_annotators(q).size() == 3);
    CHECK(store->queue_progress(q, ann1.id).remaining_for_annotator == 0);
    CHECK(store->queue_progress(q, ann2.id).remaining_for_annotator == 3);

    // Gold items are shown to everyone regardless of the overlap.
    const int64_t gq = store->create_queue("gold", ann1.id, {{assets[0], assets[1], "g", Choice::left}}, 1);
    for (const Profile& p : {ann1, ann2, ann3}) {
        auto pair = store->next_pair(gq, p.id);
        REQUIRE(pair.has_value());
        CHECK(pair->is_gold);
        Judgement j;
        j.annotator_id = p.id;
        j.queue_item_id = pair->item_id;
        j.choice = Choice::left;
        const int64_t id = store->record_judgement(j);
        CHECK(store->comparison(id).gold_choice == Choice::left);
    }
    CHECK_THROWS_AS(store->create_queue("bad", ann1.id, pairs, 0), Error);
}

TEST_CASE("judgements: validation, outside queues, and judgements per minute") {
    TempDir dir("store-judge");
    auto store = open_at(dir);
    const Profile me = store->create_profile("me");
    const int64_t a = store->import_asset(picture(1)).id, b = store->import_asset(picture(2)).id;
    const int64_t q = store->create_queue("q", me.id, {{a, b, "x"}, {b, a, "y"}, {a, b, "z"}});
    Judgement j;
    j.annotator_id = me.id;
    j.left_asset_id = a;
    j.right_asset_id = b;
    CHECK_THROWS_WITH_AS(store->record_judgement(j), doctest::Contains("choice"), Error);
    j.choice = Choice::left;
    j.strength = 5;
    CHECK_THROWS_WITH_AS(store->record_judgement(j), doctest::Contains("strength"), Error);
    j.strength = 1;
    const int64_t loose = store->record_judgement(j);   // no queue
    CHECK(store->comparison(loose).queue_id == 0);
    CHECK(store->undo_last_judgement(me.id, 0)->id == loose);
    CHECK_FALSE(store->undo_last_judgement(me.id, 0).has_value());

    // Three judgements 10 s apart, then one after a 20-minute break (counted as 5 minutes).
    const int64_t t0 = 1'700'000'000'000;
    int k = 0;
    for (int64_t t : {t0, t0 + 10'000, t0 + 20'000}) {
        Judgement in;
        in.annotator_id = me.id;
        in.queue_item_id = store->next_pair(q, me.id)->item_id;
        in.choice = Choice::right;
        in.created_ms = t;
        store->record_judgement(in);
        ++k;
    }
    const QueueProgress p = store->queue_progress(q, me.id);
    CHECK(p.judgements == 3);
    CHECK(p.judgements_per_minute == doctest::Approx(6.0));   // 2 gaps in 20 s
    CHECK(p.done_items == 3);
}

TEST_CASE("memory: every change writes history; undo restores and records itself; provenance") {
    TempDir dir("store-memory");
    auto store = open_at(dir);
    const Profile me = store->create_profile("me");
    const int64_t a = store->import_asset(picture(1)).id, b = store->import_asset(picture(2)).id;
    Judgement j;
    j.annotator_id = me.id;
    j.left_asset_id = a;
    j.right_asset_id = b;
    j.prompt = "a warm portrait";
    j.choice = Choice::left;
    j.strength = 3;
    const int64_t c1 = store->record_judgement(j);
    GenerationRecord g;
    g.profile_id = me.id;
    g.asset_id = a;
    g.prompt = "portrait";
    const int64_t g1 = store->record_generation(g);

    MemoryEntry e;
    e.profile_id = me.id;
    e.kind = "like";
    e.text = "Prefers warm light";
    e.weight = 0.8;
    e.source = "learned";
    e.source_count = 1;
    e.source_comparison_ids = {c1};
    e.source_generation_ids = {g1};
    const int64_t id = store->add_memory(e, Actor::learner);
    MemoryEntry stored = store->memory_entry(id);
    CHECK(stored.text == "Prefers warm light");
    CHECK(stored.source_comparison_ids == std::vector<int64_t>{c1});
    const MemoryProvenance prov = store->memory_provenance(id);
    REQUIRE(prov.comparisons.size() == 1);
    CHECK(prov.comparisons[0].left_asset_id == a);
    CHECK(prov.comparisons[0].choice == Choice::left);
    REQUIRE(prov.generations.size() == 1);
    CHECK(prov.generations[0].asset_id == a);

    stored.text = "Prefers warm, low light";
    stored.weight = 0.9;
    store->update_memory(stored);
    store->set_memory_active(id, false);
    MemoryEntry rule;
    rule.profile_id = me.id;
    rule.kind = "rule";
    rule.text = "Never add text to images";
    const int64_t rule_id = store->add_memory(rule);
    store->delete_memory(rule_id);

    MemoryFilter f;
    f.profile_id = me.id;
    CHECK(store->list_memory(f).size() == 1);
    f.include_deleted = true;
    CHECK(store->list_memory(f).size() == 2);
    f.include_deleted = false;
    f.search = "WARM";
    CHECK(store->list_memory(f).size() == 1);
    f.search.clear();
    f.active_only = true;
    CHECK(store->list_memory(f).empty());

    auto history = store->memory_history(id);
    REQUIRE(history.size() == 3);
    CHECK(history[0].event == "ADD");
    CHECK(history[0].actor == Actor::learner);
    CHECK(history[1].event == "UPDATE");
    CHECK(history[1].old_text == "Prefers warm light");
    CHECK(history[1].new_text == "Prefers warm, low light");
    CHECK(history[2].old_active);
    CHECK_FALSE(history[2].new_active);

    // Undo, newest first: the delete of the rule, then the deactivation, then the text edit.
    auto u1 = store->undo_memory(me.id);
    REQUIRE(u1.has_value());
    CHECK(u1->event == "RESTORE");
    CHECK_FALSE(store->memory_entry(rule_id).deleted);
    auto u2 = store->undo_memory(me.id);
    REQUIRE(u2.has_value());
    CHECK(u2->entry_id == rule_id);   // the rule's ADD: undoing it deletes the rule again
    CHECK(u2->event == "DELETE");
    CHECK(store->memory_entry(rule_id).deleted);
    auto u3 = store->undo_memory(me.id);
    CHECK(store->memory_entry(id).active);
    auto u4 = store->undo_memory(me.id);
    CHECK(store->memory_entry(id).text == "Prefers warm light");
    CHECK(store->memory_entry(id).weight == doctest::Approx(0.8));
    REQUIRE(u4.has_value());
    CHECK(u4->undo_of == history[1].id);
    CHECK(store->memory_history(id)[1].undone);
    CHECK(store->memory_history(id).size() == 5);   // nothing erased: 3 changes + 2 undos
    auto u5 = store->undo_memory(me.id);            // the ADD of the learned entry
    CHECK(store->memory_entry(id).deleted);
    CHECK_FALSE(store->undo_memory(me.id).has_value());
    CHECK_THROWS_AS(store->update_memory(store->memory_entry(id)), Error);
    e.kind = "opinion";
    CHECK_THROWS_WITH_AS(store->add_memory(e), doctest::Contains("kind"), Error);
}

TEST_CASE("reward models: save and load the latest per feature set") {
    TempDir dir("store-reward");
    auto store = open_at(dir);
    const Profile me = store->create_profile("me");
    RewardModelRecord r;
    r.profile_id = me.id;
    r.feature_set = "clip-pool-v1";
    r.parameters = {1, 2, 3, 0, 255};
    r.label_count = 40;
    r.heldout_accuracy = 0.7;
    store->save_reward_model(r);
    r.parameters = {9, 9};
    r.label_count = 80;
    store->save_reward_model(r);
    r.feature_set = "other";
    r.parameters = {7};
    store->save_reward_model(r);
    const auto latest = store->latest_reward_model(me.id, "clip-pool-v1");
    REQUIRE(latest.has_value());
    CHECK(latest->parameters == std::vector<uint8_t>{9, 9});
    CHECK(latest->label_count == 80);
    CHECK(store->latest_reward_model(me.id)->parameters == std::vector<uint8_t>{7});
    CHECK(store->list_reward_models(me.id).size() == 3);
    CHECK(store->list_reward_models(me.id)[0].parameters.empty());
}

TEST_CASE("delete_profile removes it and everything of it, keeping what others use") {
    TempDir dir("store-delete");
    auto store = open_at(dir);
    const Profile gone = store->create_profile("gone"), stays = store->create_profile("stays");
    const AssetInfo only_mine = store->import_asset(picture(1)), shared = store->import_asset(picture(2)),
                    theirs = store->import_asset(picture(3));
    Judgement j;
    j.annotator_id = gone.id;
    j.left_asset_id = only_mine.id;
    j.right_asset_id = shared.id;
    j.choice = Choice::left;
    const int64_t mine_cmp = store->record_judgement(j);
    j.annotator_id = stays.id;
    j.left_asset_id = shared.id;
    j.right_asset_id = theirs.id;
    const int64_t their_cmp = store->record_judgement(j);
    // A queue of 'gone' that 'stays' worked on survives; one nobody else touched goes.
    const int64_t shared_q = store->create_queue("shared", gone.id, {{shared.id, theirs.id, "s"}});
    const int64_t own_q = store->create_queue("own", gone.id, {{only_mine.id, shared.id, "o"}});
    Judgement qj;
    qj.annotator_id = stays.id;
    qj.queue_item_id = store->next_pair(shared_q, stays.id)->item_id;
    qj.choice = Choice::right;
    store->record_judgement(qj);
    MemoryEntry e;
    e.profile_id = gone.id;
    e.text = "likes blue";
    e.kind = "like";
    e.source_comparison_ids = {mine_cmp};
    store->add_memory(e);
    Concept c;
    c.profile_id = gone.id;
    c.name = "c";
    c.reference_asset_ids = {only_mine.id};
    store->create_concept(c);
    RewardModelRecord r;
    r.profile_id = gone.id;
    r.feature_set = "f";
    store->save_reward_model(r);

    const DeleteReport report = store->delete_profile(gone.id);
    CHECK(report.comparisons == 1);
    CHECK(report.memory_entries == 1);
    CHECK(report.concepts == 1);
    CHECK(report.reward_models == 1);
    CHECK(report.queues == 1);
    CHECK(report.assets == 1);   // only_mine; shared and theirs are still used
    CHECK_FALSE(store->find_profile("gone").has_value());
    CHECK_FALSE(fs::exists(only_mine.path));
    CHECK(fs::exists(shared.path));
    CHECK_THROWS_AS(store->asset(only_mine.id), Error);
    CHECK_THROWS_AS(store->comparison(mine_cmp), Error);
    CHECK(store->comparison(their_cmp).annotator_id == stays.id);
    CHECK(store->queue(shared_q).created_by == 0);
    CHECK_THROWS_AS(store->queue(own_q), Error);
    const CheckReport check = store->check();
    CHECK(check.ok);
    CHECK(check.integrity == "ok");
}

TEST_CASE("gc removes unreferenced assets and stray files; check finds damage") {
    TempDir dir("store-gc");
    auto store = open_at(dir);
    const Profile me = store->create_profile("me");
    const AssetInfo used = store->import_asset(picture(1)), other = store->import_asset(picture(2)),
                    unused = store->import_asset(picture(3));
    Judgement j;
    j.annotator_id = me.id;
    j.left_asset_id = used.id;
    j.right_asset_id = other.id;
    j.choice = Choice::tie;
    store->record_judgement(j);
    const std::string stray = dir.str() + "/assets/ff/" + std::string(64, 'f') + ".png";
    fs::create_directories(fs::path(stray).parent_path());
    std::ofstream(stray) << "stray";
    CHECK(store->check().orphan_files.size() == 1);

    CHECK(store->gc(60'000).assets_removed == 0);   // too young: an import may be about to use it
    const GcReport dry = store->gc(0, /*dry_run=*/true);
    CHECK(dry.assets_removed == 1);
    CHECK(fs::exists(unused.path));
    const GcReport report = store->gc(0);
    CHECK(report.assets_removed == 1);
    CHECK(report.files_removed == 3);   // the asset, its thumbnail, the stray file
    CHECK_FALSE(fs::exists(unused.path));
    CHECK_FALSE(fs::exists(stray));
    CHECK(fs::exists(used.path));
    CHECK(store->check().ok);

    // Damage an asset file: check names it.
    std::ofstream(used.path, std::ios::binary | std::ios::app) << "x";
    CheckReport check = store->check();
    CHECK_FALSE(check.ok);
    REQUIRE(check.corrupt_assets.size() == 1);
    CHECK(check.corrupt_assets[0] == used.path);
    fs::remove(other.path);
    check = store->check();
    REQUIRE(check.missing_assets.size() == 1);
    CHECK(check.missing_assets[0] == other.path);
}
