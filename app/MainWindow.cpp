#include "MainWindow.h"

#include <QAction>
#include <QApplication>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QStackedWidget>
#include <QStatusBar>
#include <QVBoxLayout>

#include "PreviewView.h"
#include "atelier/system.h"

MainWindow::MainWindow(const StudioOptions& options, QWidget* parent) : QMainWindow(parent), options_(options) {
    setWindowTitle(QStringLiteral("Atelier"));
    resize(1200, 780);

    sideBar_ = new QListWidget;
    sideBar_->setObjectName(QStringLiteral("workspaceBar"));
    sideBar_->setFixedWidth(150);
    sideBar_->setIconSize(QSize(20, 20));
    for (const char* name : {"Generate", "Compare", "Concepts", "Memory"}) sideBar_->addItem(QString::fromLatin1(name));
    sideBar_->setStyleSheet(QStringLiteral(
        "QListWidget { font-size: 15px; border: none; padding-top: 8px; }"
        "QListWidget::item { padding: 10px 14px; }"));

    pages_ = new QStackedWidget;
    pages_->addWidget(buildGeneratePage());
    pages_->addWidget(buildPlaceholderPage(tr("Compare"), tr("Judge pairs of images, keyboard first.")));
    pages_->addWidget(buildPlaceholderPage(tr("Concepts"), tr("Enroll a subject or a style from a few pictures.")));
    pages_->addWidget(buildPlaceholderPage(tr("Memory"), tr("What the studio has learned about your taste.")));
    connect(sideBar_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);

    auto* central = new QWidget;
    auto* layout = new QHBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addWidget(sideBar_);
    layout->addWidget(pages_, 1);
    setCentralWidget(central);

    QMenu* fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* viewMenu = menuBar()->addMenu(tr("&View"));
    const char* names[] = {"&Generate", "&Compare", "Co&ncepts", "&Memory"};
    for (int i = 0; i < 4; ++i) {
        QAction* action = viewMenu->addAction(tr(names[i]), this, [this, i] { showWorkspace(Workspace(i)); });
        action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
    }

    deviceLabel_ = new QLabel(deviceText());
    deviceLabel_->setObjectName(QStringLiteral("deviceLabel"));
    modelLabel_ = new QLabel(modelText());
    modelLabel_->setObjectName(QStringLiteral("modelLabel"));
    statusBar()->addPermanentWidget(modelLabel_);
    statusBar()->addPermanentWidget(deviceLabel_);
    showWorkspace(Generate);
}

QWidget* MainWindow::buildGeneratePage() {
    auto* page = new QWidget;
    auto* layout = new QVBoxLayout(page);
    liveView_ = new PreviewView;
    liveView_->setObjectName(QStringLiteral("liveView"));
    PreviewView::Hud hud;
    hud.device = deviceText();
    hud.model = modelText();
    liveView_->setHud(hud);
    layout->addWidget(liveView_, 1);
    return page;
}

QWidget* MainWindow::buildPlaceholderPage(const QString& title, const QString& text) {
    auto* page = new QWidget;
    auto* layout = new QVBoxLayout(page);
    auto* heading = new QLabel(QStringLiteral("<h2>%1</h2><p>%2</p>").arg(title, text));
    heading->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    layout->addWidget(heading);
    layout->addStretch(1);
    return page;
}

void MainWindow::showWorkspace(Workspace workspace) {
    sideBar_->setCurrentRow(int(workspace));
    pages_->setCurrentIndex(int(workspace));
}

MainWindow::Workspace MainWindow::currentWorkspace() const { return Workspace(pages_->currentIndex()); }

QString MainWindow::deviceText() const {
    const auto devices = atelier::available_devices();
    const atelier::DeviceInfo& first = devices.front();
    const QString kind = QString::fromStdString(first.name).startsWith(QLatin1String("cuda")) ? QStringLiteral("CUDA")
                                                                                             : QStringLiteral("CPU");
    return QStringLiteral("%1 · %2 threads").arg(kind).arg(atelier::compute_threads());
}

QString MainWindow::modelText() const {
    if (options_.modelPath.isEmpty()) return tr("no model loaded");
    return tr("model: %1").arg(QFileInfo(options_.modelPath).fileName());
}
