// A keyboard-only annotation session in Compare leaves exactly the right rows in the store; "learn my taste"
// asks pairs of the queue's pictures, never the same twice, and records them outside the queue.
#include <QtTest>
#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QTemporaryDir>

#include <algorithm>
#include <set>

#include "ComparePage.h"
#include "ImageConvert.h"
#include "atelier/store.h"

namespace {
atelier::Image solid(uint8_t r, uint8_t g, uint8_t b) {
    atelier::Image image{16, 16, 3, {}};
    for (int i = 0; i < 16 * 16; ++i) image.pixels.insert(image.pixels.end(), {r, g, b});
    return image;
}

struct Expected {
    int64_t itemId;
    atelier::Choice choice;
    int strength;
    std::string rationale;
};
}  // namespace

class TestCompare : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void learnMyTasteAsksNewPairsOfTheQueuesPictures() {
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        const atelier::Profile me = store->create_profile("me");
        std::vector<int64_t> assets;
        for (int i = 0; i < 5; ++i) assets.push_back(store->import_asset(solid(uint8_t(40 + 50 * i), 80, uint8_t(240 - 50 * i))).id);
        const int64_t queue = store->create_queue(
            "five", me.id, {{assets[0], assets[1], "p", atelier::Choice::invalid}, {assets[2], assets[3], "p", atelier::Choice::invalid},
                            {assets[4], assets[0], "p", atelier::Choice::invalid}}, 1);

        ComparePage page;
        page.resize(900, 600);
        page.setStore(store.get(), me.id);
        page.selectQueue(queue);
        page.show();
        QVERIFY(QTest::qWaitForWindowActive(&page));
        QVERIFY(page.currentPair()->item_id != 0);  // the queue's own order first
        auto* toggle = page.findChild<QCheckBox*>(QStringLiteral("learnTasteToggle"));
        QVERIFY(toggle);
        QTest::mouseClick(toggle, Qt::LeftButton);
        QVERIFY(page.learnMode());
        page.setFocus();

        std::set<std::pair<int64_t, int64_t>> asked;
        for (int n = 0; n < 10; ++n) {  // 5 pictures: 10 pairs
            QVERIFY(page.currentPair().has_value());
            const atelier::QueuePair p = *page.currentPair();
            QCOMPARE(p.item_id, int64_t(0));
            QVERIFY(std::count(assets.begin(), assets.end(), p.left_asset_id) == 1);
            QVERIFY(std::count(assets.begin(), assets.end(), p.right_asset_id) == 1);
            QVERIFY(p.left_asset_id != p.right_asset_id);
            const auto key = std::minmax(p.left_asset_id, p.right_asset_id);
            QVERIFY(asked.insert({key.first, key.second}).second);
            QTest::keyClick(&page, n % 2 ? Qt::Key_Left : Qt::Key_Right);
        }
        QVERIFY(!page.currentPair().has_value());  // every pair judged
        const auto judged = store->list_comparisons(me.id);
        QCOMPARE(int(judged.size()), 10);
        for (const auto& c : judged) {
            QCOMPARE(c.session, std::string("learn my taste"));
            QCOMPARE(c.queue_id, int64_t(0));
        }
        QTest::keyClick(&page, Qt::Key_Z, Qt::ControlModifier);  // undo brings one pair back
        QVERIFY(page.currentPair().has_value());
        QCOMPARE(int(store->list_comparisons(me.id).size()), 9);

        QTest::mouseClick(toggle, Qt::LeftButton);  // back to the queue: untouched by the learning session
        QVERIFY(!page.learnMode());
        QVERIFY(page.currentPair()->item_id != 0);
        QCOMPARE(store->queue_progress(queue, me.id).remaining_for_annotator, int64_t(3));
    }

    void keyboardSessionRecordsExactly() {
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        const atelier::Profile annotator = store->create_profile("ann", "annotator");
        std::vector<atelier::QueuePairInput> pairs;
        for (int i = 0; i < 24; ++i) {
            const int64_t a = store->import_asset(solid(uint8_t(i * 10 + 5), 0, 0)).id;
            const int64_t b = store->import_asset(solid(0, uint8_t(i * 10 + 5), 0)).id;
            pairs.push_back({a, b, "pair " + std::to_string(i), atelier::Choice::invalid});
        }
        const int64_t queue = store->create_queue("session", annotator.id, pairs, 1);

        ComparePage page;
        page.resize(900, 600);
        page.setStore(store.get(), annotator.id);
        page.selectQueue(queue);
        page.show();
        QVERIFY(QTest::qWaitForWindowActive(&page));
        page.setFocus();

        std::vector<Expected> expected;
        auto current = [&] { return page.currentPair()->item_id; };
        auto decide = [&](Qt::Key key, atelier::Choice choice, int strength = 0, const QString& rationale = {}) {
            QVERIFY(page.currentPair().has_value());
            const int64_t item = current();
            if (strength) QTest::keyClick(&page, Qt::Key(Qt::Key_0 + strength));
            if (!rationale.isEmpty()) {
                QTest::keyClick(&page, Qt::Key_R);
                QVERIFY(page.rationaleEdit()->hasFocus());
                QTest::keyClicks(page.rationaleEdit(), rationale);
                QTest::keyClick(page.rationaleEdit(), Qt::Key_Return);
                QVERIFY(!page.rationaleEdit()->hasFocus());
            }
            QTest::keyClick(&page, key);
            QVERIFY2(!page.currentPair() || current() != item, "the next pair appears after a decision");
            const bool decided = choice == atelier::Choice::left || choice == atelier::Choice::right;
            expected.push_back({item, choice, decided ? strength : 0, rationale.toStdString()});
        };
        auto undo = [&] {
            const int64_t undoneItem = expected.back().itemId;
            QTest::keyClick(&page, Qt::Key_Z, Qt::ControlModifier);
            expected.pop_back();
            QCOMPARE(current(), undoneItem);  // the undone pair is shown again
        };

        using atelier::Choice;
        decide(Qt::Key_Left, Choice::left);
        decide(Qt::Key_Right, Choice::right, 2);
        decide(Qt::Key_T, Choice::tie);
        decide(Qt::Key_S, Choice::skip);
        decide(Qt::Key_A, Choice::left, 3);
        decide(Qt::Key_L, Choice::right, 1, QStringLiteral("warmer light"));
        undo();
        decide(Qt::Key_Up, Choice::tie);
        decide(Qt::Key_Down, Choice::skip);
        decide(Qt::Key_Left, Choice::left, 2, QStringLiteral("cleaner shape"));
        decide(Qt::Key_Right, Choice::right);
        decide(Qt::Key_Right, Choice::right, 3);
        undo();
        decide(Qt::Key_Left, Choice::left, 1);
        for (int i = 0; i < 3; ++i) decide(Qt::Key_Left, Choice::left);
        decide(Qt::Key_T, Choice::tie, 2);   // a strength with a tie is not stored
        decide(Qt::Key_Right, Choice::right, 2);
        decide(Qt::Key_S, Choice::skip);
        decide(Qt::Key_L, Choice::right);
        decide(Qt::Key_A, Choice::left, 3, QStringLiteral("less clutter"));
        QCOMPARE(int(expected.size()), 18);  // 20 decisions, 2 undone

        std::vector<atelier::Comparison> live = store->list_comparisons(annotator.id, queue, false);
        std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        QCOMPARE(int(live.size()), int(expected.size()));
        for (size_t i = 0; i < live.size(); ++i) {
            QCOMPARE(live[i].queue_item_id, expected[i].itemId);
            QCOMPARE(int(live[i].choice), int(expected[i].choice));
            QCOMPARE(live[i].strength, expected[i].strength);
            QCOMPARE(live[i].rationale, expected[i].rationale);
            QVERIFY(live[i].decision_ms >= 0);
        }
        const auto all = store->list_comparisons(annotator.id, queue, true);
        QCOMPARE(int(all.size()), 20);
        QCOMPARE(int(std::count_if(all.begin(), all.end(), [](const auto& c) { return c.undone; })), 2);
        QVERIFY(page.progressLabel()->text().startsWith(QStringLiteral("18 / 24")));
    }

    void emptyStoreShowsGuidance() {
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        ComparePage page;
        page.setStore(store.get(), store->create_profile("x").id);
        QVERIFY(!page.currentPair().has_value());
        page.choose(atelier::Choice::left);  // nothing to judge: nothing happens
        QCOMPARE(int(store->list_comparisons(0, -1, true).size()), 0);
    }
};

QTEST_MAIN(TestCompare)
#include "test_compare.moc"
