// labels: fast
// links: core
// Export and import: bundles (folder and .tar) round-trip a profile and a queue losslessly;
// Pick-a-Pic CSV/JSONL and Label Studio JSON are read and written; a malformed bundle is refused
// as a whole with a report naming file, line and field, and nothing stored is lost.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "atelier/store.h"
#include "io/file_util.h"
#include "memory/sha256.h"
#include "store_test_util.h"

namespace fs = std::filesystem;
using namespace atelier;
using store_test::picture;
using store_test::TempDir;

namespace {

std::string sha256_of_file(const std::string& path) { return sha256_hex(read_file_bytes(path)); }

std::unique_ptr<Store> open_at(const fs::path& dir) {
    StoreOptions o;
    o.data_dir = dir.string();
    return Store::open(o);
}

struct Fixture {
    TempDir dir{"store-exchange"};
    std::unique_ptr<Store> store = open_at(dir.path / "src");
    Profile ada, bob;
    std::vector<AssetInfo> assets;
    int64_t queue = 0, memory_id = 0;

    Fixture() {
        ada = store->create_profile("ada", "annotator", R"({"k":1})");
        bob = store->create_profile("bob", "annotator");
        for (int i = 0; i < 4; ++i) assets.push_back(store->import_asset(picture(i)));
        queue = store->create_queue("q", ada.id, {{assets[0].id, assets[1].id, "a, \"quoted\"\nprompt"},
                                                  {assets[2].id, assets[3].id, "second", Choice::left}}, 2);
        const Choice choices[2][2] = {{Choice::left, Choice::tie}, {Choice::right, Choice::left}};
        for (const Profile* p : {&ada, &bob})
            for (int k = 0; k < 2; ++k) {
                auto pair = store->next_pair(queue, p->id);
                Judgement j;
                j.annotator_id = p->id;
                j.queue_item_id = pair->item_id;
                j.choice = choices[p == &bob][k];
                j.strength = j.choice == Choice::tie ? 0 : 3;
                j.rationale = "because";
                j.decision_ms = 1500 + k;
                j.created_ms = 1'700'000'000'123 + k * 1000 + (p == &bob) * 10;
                store->record_judgement(j);
            }
        MemoryEntry e;
        e.profile_id = ada.id;
        e.kind = "like";
        e.text = "likes the left ones";
        e.source = "learned";
        e.source_comparison_ids = {store->list_comparisons(ada.id, queue).back().id};
        memory_id = store->add_memory(e, Actor::learner);
        MemoryEntry changed = store->memory_entry(memory_id);
        changed.text = "likes the left ones a lot";
        store->update_memory(changed);
        RewardModelRecord r;
        r.profile_id = ada.id;
        r.feature_set = "v1";
        r.parameters = {0, 1, 2, 250, 255};
        store->save_reward_model(r);
    }
};

}  // namespace

TEST_CASE("a profile bundle (folder and .tar) round-trips judgements, memory with history, models and assets") {
    Fixture fx;
    for (const std::string format : {"bundle", "tar"}) {
        CAPTURE(format);
        ExportOptions ex;
        ex.profile_id = fx.ada.id;
        ex.path = (fx.dir.path / (format == "tar" ? "ada.tar" : "ada-bundle")).string();
        const ExportReport er = fx.store->export_data(ex);
        CHECK(er.comparisons == 2);
        CHECK(er.memory_entries == 1);
        CHECK(er.assets == 4);

        auto dst = open_at(fx.dir.path / ("dst-" + format));
        ImportOptions im;
        im.path = ex.path;
        const ImportReport ir = dst->import_data(im);
        REQUIRE_MESSAGE(ir.ok, (ir.issues.empty() ? "" : ir.issues[0].file + ": " + ir.issues[0].message));
        CHECK(ir.comparisons == 2);
        CHECK(ir.assets == 4);
        const auto ada = dst->find_profile("ada");
        REQUIRE(ada.has_value());
        CHECK(ada->settings_json == R"({"k":1})");
        const auto cmp = dst->list_comparisons(ada->id);
        REQUIRE(cmp.size() == 2);
        const auto orig = fx.store->list_comparisons(fx.ada.id);
        for (size_t i = 0; i < 2; ++i) {
            CHECK(cmp[i].choice == orig[i].choice);
            CHECK(cmp[i].strength == orig[i].strength);
            CHECK(cmp[i].created_ms == orig[i].created_ms);
            CHECK(cmp[i].prompt == orig[i].prompt);
            CHECK(dst->asset(cmp[i].left_asset_id).sha256 == fx.store->asset(orig[i].left_asset_id).sha256);
        }
        CHECK(dst->load_asset(cmp[0].left_asset_id).pixels == fx.store->load_asset(orig[0].left_asset_id).pixels);
        MemoryFilter f;
        f.profile_id = ada->id;
        const auto memory = dst->list_memory(f);
        REQUIRE(memory.size() == 1);
        CHECK(memory[0].text == "likes the left ones a lot");
        CHECK(dst->memory_history(memory[0].id).size() == 2);
        CHECK(dst->memory_provenance(memory[0].id).comparisons.size() == 1);
        CHECK(dst->latest_reward_model(ada->id)->parameters == std::vector<uint8_t>{0, 1, 2, 250, 255});
        const auto queues = dst->list_queues();
        REQUIRE(queues.size() == 1);
        CHECK(queues[0].overlap == 2);
        CHECK(queues[0].total_items == 2);
        CHECK(dst->check().ok);
    }
}

TEST_CASE("a queue bundle carries every annotator's judgements; progress survives") {
    Fixture fx;
    ExportOptions ex;
    ex.queue_id = fx.queue;
    ex.path = (fx.dir.path / "queue.tar").string();
    CHECK(fx.store->export_data(ex).comparisons == 4);
    auto dst = open_at(fx.dir.path / "dst");
    ImportOptions im;
    im.path = ex.path;
    REQUIRE(dst->import_data(im).ok);
    const auto q = dst->list_queues().at(0);
    const QueueProgress before = fx.store->queue_progress(fx.queue), after = dst->queue_progress(q.id);
    CHECK(after.done_items == before.done_items);
    CHECK(after.judgements == 4);
    const AgreementStats a = fx.store->agreement(fx.queue), b = dst->agreement(q.id);
    CHECK(b.alpha_choice == doctest::Approx(a.alpha_choice));
}

TEST_CASE("Pick-a-Pic CSV and JSONL: written with the standard columns, read back, ties as 0.5/0.5") {
    Fixture fx;
    for (const std::string ext : {".csv", ".jsonl"}) {
        CAPTURE(ext);
        ExportOptions ex;
        ex.queue_id = fx.queue;
        ex.path = (fx.dir.path / ("pick" + ext)).string();
        CHECK(fx.store->export_data(ex).comparisons == 4);
        const std::string text = read_file_text(ex.path);
        if (ext == ".csv") {
            CHECK(text.rfind("caption,image_0_uid,image_1_uid,label_0,label_1,best_image_uid,user_id,created_at,"
                             "has_label,are_different\n", 0) == 0);
            CHECK(text.find(",0.5,0.5,,ada,") != std::string::npos);   // ada's tie
            CHECK(text.find("\"a, \"\"quoted\"\"\nprompt\"") != std::string::npos);
        } else {
            CHECK(text.find("\"label_0\":0.5") != std::string::npos);
        }
        CHECK(fs::exists(fx.dir.path / "images" / (fx.assets[0].sha256 + ".png")));

        auto dst = open_at(fx.dir.path / ("dst" + ext));
        ImportOptions im;
        im.path = ex.path;
        im.queue_name = "imported";
        const ImportReport ir = dst->import_data(im);
        REQUIRE_MESSAGE(ir.ok, (ir.issues.empty() ? "" : ir.issues[0].field + ": " + ir.issues[0].message));
        CHECK(ir.comparisons == 4);
        CHECK(ir.queue_items == 2);
        const auto bob = dst->find_profile("bob");
        REQUIRE(bob.has_value());
        const auto cmp = dst->list_comparisons(bob->id);
        REQUIRE(cmp.size() == 2);
        CHECK(cmp[1].choice == Choice::right);   // newest first: bob's first judgement is the older one
        CHECK(cmp[1].created_ms == 1'700'000'000'133);
        CHECK(cmp[1].prompt == "a, \"quoted\"\nprompt");
    }
}

TEST_CASE("Label Studio pairwise JSON: written and read (left/right only)") {
    Fixture fx;
    ExportOptions ex;
    ex.queue_id = fx.queue;
    ex.path = (fx.dir.path / "ls.json").string();
    CHECK(fx.store->export_data(ex).comparisons == 3);   // ada's tie has no Label Studio form
    CHECK(read_file_text(ex.path).find("\"selected\": \"left\"") != std::string::npos);
    auto dst = open_at(fx.dir.path / "dst");
    ImportOptions im;
    im.path = ex.path;
    const ImportReport ir = dst->import_data(im);
    REQUIRE(ir.ok);
    CHECK(ir.comparisons == 3);
    CHECK(dst->list_comparisons(dst->find_profile("ada")->id).size() == 1);

    // A hand-written task as Label Studio exports it: numeric user, local image paths.
    const fs::path hand = fx.dir.path / "hand" / "tasks.json";
    fs::create_directories(hand.parent_path());
    write_png((hand.parent_path() / "x.png").string(), picture(10));
    write_png((hand.parent_path() / "y.png").string(), picture(11));
    std::ofstream(hand) << R"([{"id": 7, "data": {"image1": "x.png", "image2": "y.png", "prompt": "a hat"},
      "annotations": [{"completed_by": 3, "lead_time": 2.5, "created_at": "2024-01-02T03:04:05.600000Z",
                       "result": [{"type": "pairwise", "value": {"selected": "right"}}]}]}])";
    im.path = hand.string();
    const ImportReport hr = dst->import_data(im);
    REQUIRE(hr.ok);
    const auto user = dst->find_profile("labelstudio-3");
    REQUIRE(user.has_value());
    const Comparison c = dst->list_comparisons(user->id).at(0);
    CHECK(c.choice == Choice::right);
    CHECK(c.decision_ms == 2500);
    CHECK(c.created_ms == 1704164645600);
    CHECK(c.prompt == "a hat");
}

TEST_CASE("a malformed import is refused as a whole, with file, line and field, and loses nothing") {
    Fixture fx;
    const int64_t comparisons_before = fx.store->stats().comparisons, assets_before = fx.store->stats().assets;

    // Pick-a-Pic CSV with a good row, a bad label, a missing image and a bad time.
    const fs::path csv = fx.dir.path / "bad" / "rows.csv";
    fs::create_directories(csv.parent_path() / "images");
    write_png((csv.parent_path() / "images" / "u1.png").string(), picture(20));
    write_png((csv.parent_path() / "images" / "u2.png").string(), picture(21));
    std::ofstream(csv) << "caption,image_0_uid,image_1_uid,label_0,label_1,best_image_uid,user_id,created_at,has_label,"
                          "are_different\n"
                          "ok,u1,u2,1,0,u1,7,2023-05-01 10:00:00,1,1\n"
                          "bad label,u1,u2,0.7,0.3,u1,7,2023-05-01 10:00:01,1,1\n"
                          "missing,u1,nope,0,1,nope,7,2023-05-01 10:00:02,1,1\n"
                          "time,u1,u2,0,1,u2,7,yesterday,1,1\n";
    ImportOptions im;
    im.path = csv.string();
    ImportReport r = fx.store->import_data(im);
    CHECK_FALSE(r.ok);
    REQUIRE(r.issues.size() == 3);
    CHECK(r.issues[0].line == 3);
    CHECK(r.issues[0].field == "label_0");
    CHECK(r.issues[1].line == 4);
    CHECK(r.issues[1].field == "image_1_uid");
    CHECK(r.issues[2].line == 5);
    CHECK(r.issues[2].field == "created_at");
    CHECK(r.issues[0].file == "rows.csv");
    CHECK(fx.store->stats().comparisons == comparisons_before);
    CHECK_FALSE(fx.store->find_profile("7").has_value());

    // A bundle whose comparisons file was edited after export: the manifest hash catches it.
    ExportOptions ex;
    ex.profile_id = fx.ada.id;
    ex.path = (fx.dir.path / "edited").string();
    fx.store->export_data(ex);
    {
        std::ofstream out(fx.dir.path / "edited" / "comparisons.jsonl", std::ios::app);
        out << "{\"annotator\": \"ada\"}\n";
    }
    auto dst = open_at(fx.dir.path / "dst");
    im.path = ex.path;
    r = dst->import_data(im);
    CHECK_FALSE(r.ok);
    REQUIRE_FALSE(r.issues.empty());
    CHECK(r.issues[0].file == "comparisons.jsonl");
    CHECK(r.issues[0].field == "sha256");
    CHECK(dst->stats().comparisons == 0);
    CHECK(dst->list_profiles().empty());

    // A truncated .tar.
    ex.path = (fx.dir.path / "cut.tar").string();
    fx.store->export_data(ex);
    auto bytes = read_file_bytes(ex.path);
    bytes.resize(bytes.size() / 2);
    write_file_atomically(ex.path, bytes);
    im.path = ex.path;
    r = dst->import_data(im);
    CHECK_FALSE(r.ok);
    REQUIRE(r.issues.size() == 1);
    CHECK(r.issues[0].message.find("truncated") != std::string::npos);
    CHECK(dst->stats().comparisons == 0);
    CHECK(fx.store->stats().assets == assets_before);

    // A bundle with a consistent manifest but a bad row (hand-made): line and field are named.
    const fs::path hand = fx.dir.path / "hand";
    fs::create_directories(hand);
    std::ofstream(hand / "profiles.jsonl") << "{\"name\": \"z\", \"role\": \"annotator\"}\n";
    std::ofstream(hand / "comparisons.jsonl") << "{\"annotator\": \"z\", \"left\": \"x\", \"right\": \"y\", \"choice\": \"up\"}\n";
    const std::string manifest = std::string("{\"format\": \"atelier-bundle\", \"version\": 1, \"files\": {") +
                                 "\"profiles.jsonl\": \"" + sha256_of_file((hand / "profiles.jsonl").string()) + "\", " +
                                 "\"comparisons.jsonl\": \"" + sha256_of_file((hand / "comparisons.jsonl").string()) + "\"}}";
    std::ofstream(hand / "manifest.json") << manifest;
    im.path = hand.string();
    r = dst->import_data(im);
    CHECK_FALSE(r.ok);
    bool named_choice = false;
    for (const ImportIssue& issue : r.issues)
        named_choice |= issue.file == "comparisons.jsonl" && issue.line == 1 && issue.field == "choice";
    CHECK(named_choice);
    CHECK(dst->list_profiles().empty());
}
