#include "MainWindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QMessageBox>
#include <QSettings>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QStackedWidget>
#include <QStatusBar>
#include <QVBoxLayout>

#include "GeneratePage.h"
#include "JobRunner.h"
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

    runner_ = new JobRunner(this);
    generatePage_ = new GeneratePage(runner_);
    connect(generatePage_, &GeneratePage::statusMessage, this, [this](const QString& m) { statusBar()->showMessage(m, 5000); });

    pages_ = new QStackedWidget;
    pages_->addWidget(generatePage_);
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
    fileMenu->addAction(tr("&Open model…"), QKeySequence::Open, this, &MainWindow::openModelDialog);
    recentMenu_ = fileMenu->addMenu(tr("Recent models"));
    rebuildRecentMenu();
    fileMenu->addSeparator();
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

    PreviewView::Hud hud;
    hud.device = deviceText();
    hud.model = modelText();
    liveView()->setHud(hud);

    connect(runner_, &JobRunner::modelLoaded, this, [this](const atelier::ModelInfo& info) {
        options_.modelPath = loadingPath_;
        rememberRecentModel(loadingPath_);
        modelLabel_->setText(modelText());
        modelLabel_->setToolTip(QString::fromStdString(info.path));
        PreviewView::Hud hud = liveView()->hud();
        hud.model = modelText();
        hud.device = deviceText() + QStringLiteral(" · ") + QString::fromStdString(info.precision);
        liveView()->setHud(hud);
        statusBar()->showMessage(tr("Model loaded: %1").arg(QString::fromStdString(info.path)), 5000);
    });
    connect(runner_, &JobRunner::modelFailed, this, [this](const QString& path, const QString& message) {
        options_.modelPath.clear();
        modelLabel_->setText(tr("no model loaded"));
        statusBar()->showMessage(tr("Could not load %1").arg(path), 8000);
        QMessageBox::warning(this, tr("Could not load the model"), message);
    });
    if (!options_.modelPath.isEmpty()) openModel(options_.modelPath);
    showWorkspace(Generate);
}

PreviewView* MainWindow::liveView() const { return generatePage_->liveView(); }

void MainWindow::openModel(const QString& path) {
    loadingPath_ = path;
    modelLabel_->setText(tr("loading %1…").arg(QFileInfo(path).fileName()));
    runner_->loadModel(path);
}

void MainWindow::openModelDialog() {
    QFileDialog dialog(this, tr("Open model: a diffusers folder (model_index.json) or a .safetensors file"));
    dialog.setFileMode(QFileDialog::ExistingFile);
    dialog.setNameFilters({tr("Models (model_index.json *.safetensors)"), tr("All files (*)")});
    if (!dialog.exec() || dialog.selectedFiles().isEmpty()) return;
    QString path = dialog.selectedFiles().front();
    if (QFileInfo(path).fileName() == QLatin1String("model_index.json")) path = QFileInfo(path).absolutePath();
    openModel(path);
}

void MainWindow::rememberRecentModel(const QString& path) {
    QSettings settings;
    QStringList recent = settings.value(QStringLiteral("recentModels")).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > 8) recent.removeLast();
    settings.setValue(QStringLiteral("recentModels"), recent);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    recentMenu_->clear();
    const QStringList recent = QSettings().value(QStringLiteral("recentModels")).toStringList();
    for (const QString& path : recent) recentMenu_->addAction(path, this, [this, path] { openModel(path); });
    recentMenu_->setEnabled(!recent.isEmpty());
}

void MainWindow::closeEvent(QCloseEvent* event) {
    runner_->cancel();  // the worker stops at the next step; ~JobRunner waits for it
    event->accept();
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
    if (runner_ && runner_->hasModel() && !runner_->modelInfo().family.empty())
        return tr("model: %1 (%2)").arg(QFileInfo(options_.modelPath).fileName(),
                                        QString::fromStdString(runner_->modelInfo().family));
    return tr("model: %1").arg(QFileInfo(options_.modelPath).fileName());
}
