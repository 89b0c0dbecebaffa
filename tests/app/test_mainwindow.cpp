// needs: gl
// The studio window: four workspaces, keyboard navigation, and a status bar that names device and model.
#include <QtTest>
#include <QLabel>
#include <QListWidget>
#include <QTemporaryDir>

#include "MainWindow.h"
#include "PreviewView.h"
#include "StudioSetup.h"

class TestMainWindow : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void hasFourWorkspacesAndSwitchesByShortcut() {
        QTemporaryDir dir;
        StudioOptions options;
        options.dataDir = dir.path();
        MainWindow window(options);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        window.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&window));
        auto* bar = window.findChild<QListWidget*>(QStringLiteral("workspaceBar"));
        QVERIFY(bar);
        QCOMPARE(bar->count(), 4);
        QCOMPARE(bar->item(0)->text(), QStringLiteral("Generate"));
        QCOMPARE(bar->item(3)->text(), QStringLiteral("Memory"));
        QCOMPARE(window.currentWorkspace(), MainWindow::Generate);
        QTest::keyClick(&window, Qt::Key_3, Qt::ControlModifier);
        QCOMPARE(window.currentWorkspace(), MainWindow::Concepts);
        bar->setCurrentRow(1);
        QCOMPARE(window.currentWorkspace(), MainWindow::Compare);
    }

    void statusBarNamesDeviceAndModel() {
        QTemporaryDir dir;
        StudioOptions options;
        options.dataDir = dir.path();
        MainWindow window(options);
        auto* device = window.findChild<QLabel*>(QStringLiteral("deviceLabel"));
        auto* model = window.findChild<QLabel*>(QStringLiteral("modelLabel"));
        QVERIFY(device && model);
        QVERIFY2(device->text().startsWith(QLatin1String("CPU")) || device->text().startsWith(QLatin1String("CUDA")),
                 qPrintable(device->text()));
        QVERIFY(device->text().contains(QLatin1String("thread")));
        QCOMPARE(model->text(), QStringLiteral("no model loaded"));
        QVERIFY(window.liveView() != nullptr);
    }
};

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    TestMainWindow test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_mainwindow.moc"
