// Editing, deleting and undoing memory entries through the GUI leaves the store and its history right.
#include <QtTest>
#include <QLabel>
#include <QListWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QUndoStack>

#include "MemoryPage.h"
#include "atelier/store.h"

class TestMemory : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void editDeleteUndo() {
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        const int64_t me = store->create_profile("designer").id;

        MemoryPage page;
        page.setStore(store.get(), me);
        page.resize(1000, 600);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));

        auto* title = page.findChild<QLabel*>(QStringLiteral("memoryTitle"));
        QVERIFY(title);
        QVERIFY2(title->text().startsWith(QStringLiteral("Nothing remembered yet")), qPrintable(title->text()));
        const int64_t warm = page.addEntry(QStringLiteral("like"), QStringLiteral("warm colours"));
        QVERIFY2(title->text().startsWith(QStringLiteral("Select an entry")), qPrintable(title->text()));
        const int64_t stripes = page.addEntry(QStringLiteral("dislike"), QStringLiteral("stripes"), 0.8);
        QVERIFY(warm > 0 && stripes > 0);
        QCOMPARE(page.model()->rowCount(), 2);

        // Inline edits through the table's model, as a delegate would commit them.
        MemoryModel* model = page.model();
        const int row = model->rowOf(warm);
        QVERIFY(model->setData(model->index(row, MemoryModel::Text), QStringLiteral("warm, golden colours"), Qt::EditRole));
        QVERIFY(model->setData(model->index(model->rowOf(warm), MemoryModel::Weight), 1.5, Qt::EditRole));
        QVERIFY(model->setData(model->index(model->rowOf(stripes), MemoryModel::Active), Qt::Unchecked, Qt::CheckStateRole));
        QVERIFY(!model->setData(model->index(model->rowOf(warm), MemoryModel::Kind), QStringLiteral("bogus"), Qt::EditRole));
        QCOMPARE(store->memory_entry(warm).text, std::string("warm, golden colours"));
        QCOMPARE(store->memory_entry(warm).weight, 1.5);
        QVERIFY(!store->memory_entry(stripes).active);

        page.deleteEntry(stripes);
        QVERIFY(store->memory_entry(stripes).deleted);
        QCOMPARE(page.model()->rowCount(), 1);

        // Ctrl+Z three times: the delete, the deactivation, then the weight change.
        page.table()->setFocus();
        QTest::keyClick(page.table(), Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(!store->memory_entry(stripes).deleted);
        QVERIFY(!store->memory_entry(stripes).active);  // restored as it was: still inactive
        QCOMPARE(page.model()->rowCount(), 2);
        QTest::keyClick(page.table(), Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(store->memory_entry(stripes).active);
        QCOMPARE(store->memory_entry(warm).weight, 1.5);
        QTest::keyClick(page.table(), Qt::Key_Z, Qt::ControlModifier);
        QCOMPARE(store->memory_entry(warm).weight, 1.0);
        QCOMPARE(store->memory_entry(warm).text, std::string("warm, golden colours"));
        // Redo brings the weight back.
        page.undoStack()->redo();
        QCOMPARE(store->memory_entry(warm).weight, 1.5);

        // The story of "warm": ADD, UPDATE text, UPDATE weight (undone), the undo, the redo.
        const auto history = store->memory_history(warm);
        QVERIFY(history.size() >= 4);
        QCOMPARE(history.front().event, std::string("ADD"));
        QCOMPARE(history.front().new_text, std::string("warm colours"));
        bool sawTextChange = false;
        for (const auto& event : history)
            if (event.old_text == "warm colours" && event.new_text == "warm, golden colours") sawTextChange = true;
        QVERIFY(sawTextChange);
        QCOMPARE(int(std::count_if(history.begin(), history.end(), [](const auto& e) { return e.undo_of != 0; })), 1);
        // The delete of "stripes" was undone by a RESTORE that refers to it.
        const auto stripesHistory = store->memory_history(stripes);
        const auto deletion = std::find_if(stripesHistory.begin(), stripesHistory.end(),
                                           [](const auto& e) { return e.event == "DELETE"; });
        QVERIFY(deletion != stripesHistory.end());
        QVERIFY(deletion->undone);
        QVERIFY(std::any_of(stripesHistory.begin(), stripesHistory.end(),
                            [&](const auto& e) { return e.event == "RESTORE" && e.undo_of == deletion->id; }));

        // The side pane shows the selected entry's history.
        page.table()->setCurrentIndex(page.model()->index(page.model()->rowOf(warm), 0));
        QCOMPARE(page.historyList()->count(), int(history.size()));
    }

    void searchAndFilter() {
        QTemporaryDir dir;
        atelier::StoreOptions options;
        options.data_dir = dir.path().toStdString();
        auto store = atelier::Store::open(options);
        const int64_t me = store->create_profile("designer").id;
        MemoryPage page;
        page.setStore(store.get(), me);
        page.addEntry(QStringLiteral("like"), QStringLiteral("warm colours"));
        page.addEntry(QStringLiteral("like"), QStringLiteral("soft shadow"));
        page.addEntry(QStringLiteral("rule"), QStringLiteral("avoid stripes"));
        page.model()->setFilter(QStringLiteral("like"), QString());
        QCOMPARE(page.model()->rowCount(), 2);
        page.model()->setFilter(QString(), QStringLiteral("STRIPES"));
        QCOMPARE(page.model()->rowCount(), 1);
        QCOMPARE(page.model()->entryAt(0).text, std::string("avoid stripes"));
    }
};

QTEST_MAIN(TestMemory)
#include "test_memory.moc"
