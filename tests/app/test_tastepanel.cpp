// The Taste panel learns a person's taste from their stored choices on the worker thread, shows what
// it learned, and writes it into the memory as learner entries.
#include <QtTest>
#include <QApplication>
#include <QLabel>
#include <QTemporaryDir>

#include "JobRunner.h"
#include "TastePanel.h"
#include "atelier/store.h"
#include "atelier/world.h"
#include "settings_scope.h"

namespace {
// A picture with a coloured disc on grey: warm discs (reds, oranges) or cool ones (blues, cyans).
atelier::Image disc(int r, int g, int b, int radius) {
    atelier::Image image{48, 48, 3, {}};
    for (int y = 0; y < 48; ++y)
        for (int x = 0; x < 48; ++x) {
            const bool in = (x - 24) * (x - 24) + (y - 24) * (y - 24) <= radius * radius;
            image.pixels.push_back(uint8_t(in ? r : 128));
            image.pixels.push_back(uint8_t(in ? g : 128));
            image.pixels.push_back(uint8_t(in ? b : 128));
        }
    return image;
}
// Records that `winner` was chosen over `loser`, the winner on the left on even `i` and on the right on odd.
void recordWin(atelier::Store& store, int64_t annotator, int i, int64_t winner, int64_t loser, int strength = 0) {
    atelier::Judgement j;
    j.annotator_id = annotator;
    const bool winnerLeft = i % 2 == 0;
    j.left_asset_id = winnerLeft ? winner : loser;
    j.right_asset_id = winnerLeft ? loser : winner;
    j.choice = winnerLeft ? atelier::Choice::left : atelier::Choice::right;
    j.strength = strength;
    store.record_judgement(j);
}
}  // namespace

class TestTastePanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void learnsWarmOverCoolAndWritesMemory() {
        const SettingsScope statistics(SettingsScope::tasteFeatures(QStringLiteral("atelier-basic-v1")));  // warmth is a picture statistic
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        const int64_t me = store->create_profile("warm-lover").id;
        // 40 choices: the warm picture always wins, whichever side it is on.
        for (int i = 0; i < 40; ++i) {
            const int64_t warm = store->import_asset(disc(200 + i % 50, 40 + 3 * i % 90, 20, 8 + i % 12)).id;
            const int64_t cool = store->import_asset(disc(20, 80 + 3 * i % 100, 200 + i % 50, 8 + (i * 7) % 12)).id;
            recordWin(*store, me, i, warm, cool, 2);
        }

        JobRunner runner;
        TastePanel panel(&runner);
        panel.setProfile(dir.path(), me);
        QSignalSpy learned(&panel, &TastePanel::learned);
        panel.learn();
        QVERIFY(learned.wait(60000));
        QCOMPARE(panel.summary().choices, 40);
        QVERIFY2(panel.summary().heldoutAccuracy > 0.85, qPrintable(QString::number(panel.summary().heldoutAccuracy)));
        QVERIFY(!panel.summary().directions.isEmpty());
        // The strongest learned direction is about warm colour, with a positive weight.
        QVERIFY2(panel.summary().directions.front().contains(QStringLiteral("warm")),
                 qPrintable(panel.summary().directions.front()));
        QVERIFY(panel.summary().weights.front() > 0);
        QVERIFY(!panel.summary().learningCurve.isEmpty());
        QCOMPARE(int(panel.summary().learningCurve.back().x()), 40);
        // The fit is stored for the profile.
        const auto record = store->latest_reward_model(me);
        QVERIFY(record.has_value());
        QCOMPARE(record->label_count, int64_t(40));

        QSignalSpy memory(&panel, &TastePanel::memoryChanged);
        panel.writeToMemory();
        QVERIFY(memory.wait(60000));
        atelier::MemoryFilter filter;
        filter.profile_id = me;
        // Only directions the learner is sure of (|w| / sd >= 3) enter the memory; with 40 choices over
        // correlated colour features none is yet, and the panel says so instead of writing noise.
        const auto entries = store->list_memory(filter);
        for (const auto& e : entries) QCOMPARE(e.source, std::string("learned"));
        if (entries.empty())
            QCOMPARE(panel.statusLabel()->text(), QStringLiteral("No direction is strong enough for the memory yet."));
    }

    // With the default features (the shipped world encoder) the panel speaks the world's words.
    void learnsInTheWorldsWordsWithTheDefaultEncoder() {
        const SettingsScope defaults(SettingsScope::tasteFeatures(QString()));
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        const int64_t me = store->create_profile("red-lover").id;
        // 40 choices between two renders of the world that differ in the object's colour: red always wins.
        for (int i = 0; i < 40; ++i) {
            atelier::world::Scene scene = atelier::world::sample_scene(atelier::world::derive_seed(41, uint64_t(i)));
            scene.colour = atelier::world::Colour::red;
            if (scene.background_colour == scene.colour) scene.background_colour = atelier::world::Colour::white;
            const int64_t red = store->import_asset(atelier::world::render_scene(scene, 64)).id;
            scene.colour = atelier::world::Colour::blue;
            if (scene.background_colour == scene.colour) scene.background_colour = atelier::world::Colour::white;
            const int64_t blue = store->import_asset(atelier::world::render_scene(scene, 64)).id;
            recordWin(*store, me, i, red, blue);
        }
        JobRunner runner;
        TastePanel panel(&runner);
        panel.setProfile(dir.path(), me);
        QSignalSpy learned(&panel, &TastePanel::learned);
        panel.learn();
        QVERIFY(learned.wait(60000));
        QVERIFY2(panel.summary().heldoutAccuracy > 0.85, qPrintable(QString::number(panel.summary().heldoutAccuracy)));
        QVERIFY(panel.summary().directions.size() >= 2);
        const QString strongest = panel.summary().directions.value(0) + QLatin1Char('|') + panel.summary().directions.value(1);
        QVERIFY2(strongest.contains(QStringLiteral("likes red objects")) ||
                     strongest.contains(QStringLiteral("dislikes blue objects")),
                 qPrintable(strongest));
        const auto record = store->latest_reward_model(me);
        QVERIFY(record.has_value());
        QCOMPARE(record->feature_set, std::string("world-attributes-v1"));
    }
};

int main(int argc, char** argv) {
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("AtelierTest"));
    TestTastePanel test;
    return QTest::qExec(&test, argc, argv);
}
#include "test_tastepanel.moc"
