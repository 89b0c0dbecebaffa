#include "MainWindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QScreen>
#include <QSpinBox>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include <memory>

#include "ComparePage.h"
#include "ConceptsPage.h"
#include "GeneratePage.h"
#include "ImageConvert.h"
#include "JobRunner.h"
#include "MemoryPage.h"
#include "PresenterWindow.h"
#include "PreviewView.h"
#include "SettingsDialog.h"
#include "TastePanel.h"
#include "atelier/prompt_rules.h"
#include "atelier/taste.h"
#include "atelier/system.h"

namespace {

QStringList motionPhrases(const atelier::ModelInfo& info) {
    QStringList phrases;
    for (const std::string& p : info.motion_phrases) phrases << QString::fromStdString(p);
    return phrases;
}

}  // namespace

MainWindow::MainWindow(const StudioOptions& options, QWidget* parent) : QMainWindow(parent), options_(options) {
    setWindowTitle(QStringLiteral("Atelier"));
    resize(1280, 800);

    sideBar_ = new QListWidget;
    sideBar_->setObjectName(QStringLiteral("workspaceBar"));
    sideBar_->setFixedWidth(150);
    for (const char* name : {"Generate", "Compare", "Concepts", "Memory"}) sideBar_->addItem(QString::fromLatin1(name));
    sideBar_->setStyleSheet(QStringLiteral(
        "QListWidget { font-size: 15px; border: none; padding-top: 8px; }"
        "QListWidget::item { padding: 10px 14px; }"));

    runner_ = new JobRunner(this);
    runner_->setPreviewInterval(options_.previewInterval);
    generatePage_ = new GeneratePage(runner_);
    comparePage_ = new ComparePage;
    conceptsPage_ = new ConceptsPage(runner_);
    memoryPage_ = new MemoryPage;
    tastePanel_ = new TastePanel(runner_);
    memoryTabs_ = new QTabWidget;
    memoryTabs_->setObjectName(QStringLiteral("memoryTabs"));
    memoryTabs_->addTab(memoryPage_, tr("Memory"));
    memoryTabs_->addTab(tastePanel_, tr("Taste"));
    pages_ = new QStackedWidget;
    for (QWidget* page : {static_cast<QWidget*>(generatePage_), static_cast<QWidget*>(comparePage_),
                          static_cast<QWidget*>(conceptsPage_), static_cast<QWidget*>(memoryTabs_)})
        pages_->addWidget(page);
    connect(sideBar_, &QListWidget::currentRowChanged, this, [this](int row) { showWorkspace(Workspace(row)); });

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
    fileMenu->addAction(tr("Load &motion module…"), this, [this] {
        const QString path = QFileDialog::getOpenFileName(
            this, tr("AnimateDiff motion module (a .safetensors file or a diffusers MotionAdapter folder's config.json)"),
            QString(), tr("Motion modules (*.safetensors config.json)"));
        if (!path.isEmpty()) loadMotionModule(QFileInfo(path).fileName() == QLatin1String("config.json") ? QFileInfo(path).absolutePath() : path);
    });
    rebuildRecentMenu();
    fileMenu->addSeparator();
    fileMenu->addAction(tr("New &profile…"), this, &MainWindow::newProfileDialog);
    fileMenu->addAction(tr("&Settings…"), QKeySequence::Preferences, this, &MainWindow::openSettings);
    fileMenu->addSeparator();
    fileMenu->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* viewMenu = menuBar()->addMenu(tr("&View"));
    const char* names[] = {"&Generate", "&Compare", "Co&ncepts", "&Memory"};
    for (int i = 0; i < 4; ++i) {
        QAction* action = viewMenu->addAction(tr(names[i]), this, [this, i] { showWorkspace(Workspace(i)); });
        action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
    }
    viewMenu->addSeparator();
    viewMenu->addAction(tr("&Presenter"), QKeySequence(Qt::Key_F11), this, [this] { showPresenter(); });

    profileBox_ = new QComboBox;
    profileBox_->setObjectName(QStringLiteral("profileBox"));
    profileBox_->setFocusPolicy(Qt::ClickFocus);
    profileBox_->setToolTip(tr("Who is working: judgements, memory and concepts belong to this profile"));
    connect(profileBox_, qOverload<int>(&QComboBox::activated), this,
            [this](int index) { setProfile(profileBox_->itemData(index).toLongLong()); });
    deviceLabel_ = new QLabel(deviceText());
    deviceLabel_->setObjectName(QStringLiteral("deviceLabel"));
    modelLabel_ = new QLabel(modelText());
    modelLabel_->setObjectName(QStringLiteral("modelLabel"));
    statusBar()->addPermanentWidget(profileBox_);
    statusBar()->addPermanentWidget(modelLabel_);
    statusBar()->addPermanentWidget(deviceLabel_);
    auto showMessage = [this](const QString& message) { statusBar()->showMessage(message, 6000); };
    connect(generatePage_, &GeneratePage::statusMessage, this, showMessage);
    connect(comparePage_, &ComparePage::statusMessage, this, showMessage);
    connect(conceptsPage_, &ConceptsPage::statusMessage, this, showMessage);
    connect(memoryPage_, &MemoryPage::statusMessage, this, showMessage);

    PreviewView::Hud hud;
    hud.device = deviceText().replace(QStringLiteral(" · "), QStringLiteral(", "));  // the HUD font is ASCII
    liveView()->setHud(hud);

    connect(runner_, &JobRunner::modelLoaded, this, [this](const atelier::ModelInfo& info) {
        options_.modelPath = loadingPath_;
        rememberRecentModel(loadingPath_);
        modelLabel_->setText(modelText());
        generatePage_->useModelDefaults(info.default_steps, info.default_guidance);
        generatePage_->setExamplePrompt(QString::fromStdString(info.example_prompt));
        generatePage_->setMotionPhrases(motionPhrases(info));
        if (options_.firstPicture) drawFirstPicture(QString::fromStdString(info.example_prompt));
        options_.firstPicture = false;  // once: a model opened later is not drawn unasked
        modelLabel_->setToolTip(QString::fromStdString(info.path));
        PreviewView::Hud hud = liveView()->hud();
        hud.model = QFileInfo(loadingPath_).fileName();
        hud.device = QString::fromStdString(info.device) + QStringLiteral(", ") + QString::fromStdString(info.precision);
        liveView()->setHud(hud);
        statusBar()->showMessage(tr("Model loaded: %1").arg(QString::fromStdString(info.path)), 5000);
    });
    connect(runner_, &JobRunner::modelFailed, this, [this](const QString& path, const QString& message) {
        options_.modelPath.clear();
        modelLabel_->setText(tr("no model loaded"));
        statusBar()->showMessage(tr("Could not load %1").arg(path), 8000);
        QMessageBox::warning(this, tr("Could not load the model"), message);
    });
    connect(generatePage_, &GeneratePage::imagesGenerated, this, &MainWindow::recordGenerations);
    connect(generatePage_, &GeneratePage::sendToCompare, this,
            [this](const QVector<QImage>& images, const QString& prompt) {
                const QString name = tr("Picks %1").arg(QDateTime::currentDateTime().toString(QStringLiteral("MMM d hh:mm")));
                if (comparePage_->createQueueFromImages(name, images, prompt)) showWorkspace(Compare);
            });
    connect(generatePage_, &GeneratePage::sendPairsToCompare, this,
            [this](const QVector<QPair<QImage, QImage>>& pairs, const QString& prompt) {
                const QString name = tr("Prompts %1").arg(QDateTime::currentDateTime().toString(QStringLiteral("MMM d hh:mm")));
                if (comparePage_->createQueueFromPairs(name, pairs, prompt)) showWorkspace(Compare);
            });
    connect(conceptsPage_, &ConceptsPage::conceptsChanged, this,
            [this] { generatePage_->setConceptTokens(conceptsPage_->triggerTokens()); });
    // The Generate page re-reads the active rules whenever the memory changes.
    connect(memoryPage_, &MemoryPage::memoryChanged, this, [this] { setProfile(profileId_); });
    connect(tastePanel_, &TastePanel::memoryChanged, this, [this] {
        memoryPage_->reload();
        setProfile(profileId_);
    });

    openStore();
    if (!options_.modelPath.isEmpty()) openModel(options_.modelPath);
    showWorkspace(Generate);
}

void MainWindow::drawFirstPicture(const QString& example) {
    if (example.isEmpty() || !generatePage_->promptEdit()->toPlainText().trimmed().isEmpty() || !store_ ||
        !store_->list_generations(profileId_, 1).empty())
        return;
    generatePage_->promptEdit()->setPlainText(example);
    // The load job is still finishing: draw as soon as the runner is free.
    auto* once = new QObject(this);
    connect(runner_, &JobRunner::busyChanged, once, [this, once](bool busy) {
        if (busy) return;
        once->deleteLater();
        generatePage_->startGeneration();
    });
}

MainWindow::~MainWindow() {
    delete presenter_;       // a top-level window of its own; it uses runner_
    delete centralWidget();  // the pages hold the store: they go before it does
}

void MainWindow::openStore() {
    try {
        atelier::StoreOptions storeOptions;
        storeOptions.data_dir = options_.dataDir.toStdString();
        store_ = atelier::Store::open(storeOptions);
    } catch (const std::exception& e) {
        // The studio still generates; only what needs the store is off. Nothing on disk is touched.
        storeError_ = QString::fromStdString(e.what());
        auto* warning = new QLabel(tr("⚠ store unavailable"));
        warning->setObjectName(QStringLiteral("storeWarning"));
        warning->setToolTip(storeError_);
        warning->setStyleSheet(QStringLiteral("color: #e0a030;"));
        statusBar()->addWidget(warning);
        qWarning("Atelier: the store could not be opened: %s", e.what());
        return;
    }
    QString name = options_.profile;
    if (name.isEmpty()) name = QSettings().value(QStringLiteral("profile")).toString();
    if (name.isEmpty()) name = QString::fromStdString(atelier::default_profile_name());
    try {
        setProfile(store_->ensure_profile(name.toStdString(), "designer").id);
    } catch (const std::exception& e) {
        storeError_ = QString::fromStdString(e.what());
    }
}

void MainWindow::refreshProfiles() {
    profileBox_->clear();
    if (!store_) return;
    for (const atelier::Profile& p : store_->list_profiles()) {
        profileBox_->addItem(QStringLiteral("%1 (%2)").arg(QString::fromStdString(p.name), QString::fromStdString(p.role)),
                             QVariant::fromValue<qlonglong>(p.id));
    }
    profileBox_->setCurrentIndex(profileBox_->findData(QVariant::fromValue<qlonglong>(profileId_)));
}

void MainWindow::setProfile(int64_t profileId) {
    if (!store_) return;
    const bool changed = profileId != profileId_;
    profileId_ = profileId;
    if (changed) {
        QSettings().setValue(QStringLiteral("profile"), QString::fromStdString(store_->profile(profileId).name));
        comparePage_->setStore(store_.get(), profileId_);
        conceptsPage_->setStore(store_.get(), profileId_);
        memoryPage_->setStore(store_.get(), profileId_);
        tastePanel_->setProfile(QString::fromStdString(store_->data_dir()), profileId_);
        generatePage_->setConceptTokens(conceptsPage_->triggerTokens());
        refreshProfiles();
    }
    atelier::Store* store = store_.get();
    rules_ = [store, profileId](const QString& prompt, const QString& negative) {
        atelier::MemoryFilter filter;
        filter.profile_id = profileId;
        filter.active_only = true;
        const atelier::EffectivePrompt effective =
            atelier::apply_memory_rules(prompt.toStdString(), negative.toStdString(), store->list_memory(filter));
        EffectivePrompt result{QString::fromStdString(effective.prompt), QString::fromStdString(effective.negative_prompt), {}};
        for (const std::string& text : effective.applied_texts) result.appliedRules << QString::fromStdString(text);
        return result;
    };
    generatePage_->setPromptRules(rules_);
    auto personalize = [this](atelier::GenerateRequest& request) {
        request.concepts = conceptsPage_->conceptsFor(QString::fromStdString(request.prompt));
    };
    generatePage_->setPersonalizer(personalize);
    const std::string dataDir = store_->data_dir();
    generatePage_->setTasteRanker([this, dataDir, profileId](const QVector<QVector<QImage>>& pictures,
                                                             std::function<void(QVector<int>, QStringList)> show) {
        std::vector<std::vector<atelier::Image>> items;  // a picture, or a clip's frames
        for (const QVector<QImage>& frames : pictures) {
            items.emplace_back();
            for (const QImage& frame : frames) items.back().push_back(fromQImage(frame));
        }
        auto order = std::make_shared<QVector<int>>();
        auto captions = std::make_shared<QStringList>();
        runner_->run(
            [items, dataDir, profileId, order, captions] {
                using namespace atelier::taste;
                atelier::StoreOptions options;
                options.data_dir = dataDir;
                auto store = atelier::Store::open(options);
                const auto extractor = make_feature_extractor(tasteFeatureSet());
                auto record = store->latest_reward_model(profileId, extractor->feature_set());
                if (!record && !store->list_comparisons(profileId, -1, false, 1).empty()) {
                    // Choices made, but no model for these features yet (new features): learn it now.
                    const ProfileFit fit = fit_profile(*store, profileId, *extractor, 5, true, false);
                    store->save_reward_model(to_record(fit.model, profileId, fit.heldout_accuracy));
                    record = store->latest_reward_model(profileId, extractor->feature_set());
                }
                if (!record) throw atelier::Error("No taste model yet: judge some pairs, then Memory > Taste > Learn.");
                const RewardModel model = from_record(*record);
                std::vector<std::vector<float>> features;
                for (const auto& frames : items) {  // a clip: the mean of its frames' features
                    std::vector<float> mean;
                    for (const atelier::Image& frame : frames) {
                        const std::vector<float> f = extractor->extract(frame);
                        if (mean.empty()) mean.assign(f.size(), 0.0f);
                        for (size_t k = 0; k < f.size(); ++k) mean[k] += f[k] / float(frames.size());
                    }
                    features.push_back(std::move(mean));
                }
                for (const RankedImage& r : rank_images(model, features)) {
                    order->push_back(r.index);
                    *captions << QObject::tr("P(best) %1").arg(r.p_best, 0, 'f', 2);
                }
            },
            [this, order, captions, show, n = pictures.size()](const QString& error) {
                if (!error.isEmpty()) {
                    statusBar()->showMessage(error, 8000);
                    QVector<int> identity;
                    for (int i = 0; i < n; ++i) identity << i;
                    show(identity, QStringList());
                    return;
                }
                show(*order, *captions);
            });
    });
    if (presenter_) configurePresenter();
}

void MainWindow::configurePresenter() {
    presenter_->setPromptRules(rules_);
    presenter_->setPersonalizer([this](atelier::GenerateRequest& request) {
        request.concepts = conceptsPage_->conceptsFor(QString::fromStdString(request.prompt));
    });
    presenter_->setStore(store_.get(), profileId_);
    presenter_->setTasteScorer([this](const QImage& a, const QImage& b) { return tasteLine(a, b); });
}

QString MainWindow::tasteLine(const QImage& a, const QImage& b) const {
    if (!store_ || !profileId_) return {};
    try {
        const auto features = atelier::taste::make_feature_extractor(tasteFeatureSet());
        const auto record = store_->latest_reward_model(profileId_, features->feature_set());
        if (!record) return tr("no taste model yet (Memory > Taste)");
        const atelier::taste::RewardModel model = atelier::taste::from_record(*record);
        const std::vector<float> fa = features->extract(fromQImage(a));
        QString line = tr("%1 ± %2").arg(model.reward(fa), 0, 'f', 2).arg(model.reward_sd(fa), 0, 'f', 2);
        if (!b.isNull()) {
            const atelier::taste::Prediction p = model.predict(fa, features->extract(fromQImage(b)));
            line += tr(" · P(A over B) %1").arg(p.p_first + 0.5 * p.p_tie, 0, 'f', 2);
        }
        return line;
    } catch (const std::exception& e) {
        return tr("taste: %1").arg(QString::fromStdString(e.what()));
    }
}

PresenterWindow* MainWindow::showPresenter(bool fullScreen) {
    if (!presenter_) {
        presenter_ = new PresenterWindow(runner_, nullptr);
        connect(presenter_, &PresenterWindow::left, this, [this] {
            presenter_->hide();
            activateWindow();
        });
    }
    configurePresenter();
    presenter_->setModelName(QFileInfo(options_.modelPath).fileName());
    presenter_->promptBar()->setText(generatePage_->promptEdit()->toPlainText().simplified());
    if (fullScreen) {
        if (QScreen* here = screen()) presenter_->setGeometry(here->geometry());
        presenter_->showFullScreen();
    } else {
        presenter_->show();
    }
    presenter_->promptBar()->setFocus();
    return presenter_;
}

void MainWindow::newProfileDialog() {
    if (!store_) return;
    bool ok = false;
    const QString name = QInputDialog::getText(this, tr("New profile"), tr("Name"), QLineEdit::Normal, QString(), &ok);
    if (!ok || name.trimmed().isEmpty()) return;
    const QString role = QInputDialog::getItem(this, tr("New profile"), tr("Role"),
                                               {QStringLiteral("designer"), QStringLiteral("annotator"),
                                                QStringLiteral("presenter")},
                                               0, false, &ok);
    if (!ok) return;
    try {
        setProfile(store_->create_profile(name.trimmed().toStdString(), role.toStdString()).id);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("New profile"), QString::fromStdString(e.what()));
    }
}

void MainWindow::recordGenerations(const QVector<GeneratedImage>& images, const QString& effectivePrompt) {
    if (!store_) return;
    try {
        for (const GeneratedImage& generated : images) {
            const atelier::GenerationParams& p = generated.params;
            const atelier::AssetInfo asset = store_->import_asset(fromQImage(generated.image), "generated",
                                                                  {{"parameters", atelier::format_parameters(p)}});
            atelier::GenerationRecord record;
            record.profile_id = profileId_;
            record.asset_id = asset.id;
            record.model_id = p.model_id;
            record.model_name = p.model_name;
            record.prompt = p.prompt;
            record.negative_prompt = p.negative_prompt;
            record.effective_prompt = effectivePrompt.toStdString();
            record.seed = p.seed;
            record.sampler = p.sampler;
            record.timestep_spacing = p.timestep_spacing;
            record.steps = p.steps;
            record.guidance = p.guidance;
            record.width = p.width;
            record.height = p.height;
            record.clip_skip = p.clip_skip;
            record.strength = p.strength;
            record.duration_ms = generated.durationMs;
            store_->record_generation(record);
        }
    } catch (const std::exception& e) {
        statusBar()->showMessage(tr("The generation was not recorded: %1").arg(QString::fromStdString(e.what())), 8000);
    }
}

PreviewView* MainWindow::liveView() const { return generatePage_->liveView(); }

void MainWindow::openModel(const QString& path) {
    loadingPath_ = path;
    modelLabel_->setText(tr("loading %1…").arg(QFileInfo(path).fileName()));
    runner_->loadModel(path, options_.device);
}

void MainWindow::loadMotionModule(const QString& path) {
    auto phrases = std::make_shared<QStringList>();
    runner_->runWithModel([path = path.toStdString(), phrases](atelier::Model& model) {
                              model.set_motion_module(path);
                              *phrases = motionPhrases(model.info());
                          },
                          [this, path, phrases](const QString& error) {
                              if (!error.isEmpty()) {
                                  QMessageBox::warning(this, tr("Could not load the motion module"), error);
                                  return;
                              }
                              generatePage_->setMotionPhrases(*phrases);
                              statusBar()->showMessage(tr("Motion module loaded: set Frames in Generate for clips"), 8000);
                              if (generatePage_->framesBox()->value() < 2) generatePage_->framesBox()->setValue(16);
                              Q_EMIT motionModuleLoaded(path);
                          });
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

void MainWindow::openSettings() {
    SettingsDialog dialog(StudioSettings::load(), this);
    if (dialog.exec() != QDialog::Accepted) return;
    const StudioSettings settings = dialog.settings();
    settings.save();
    options_.device = settings.device;
    runner_->setPreviewInterval(settings.previewInterval);
    runner_->setThreads(settings.threads);
    applyTheme(settings.theme);
    deviceLabel_->setText(deviceText());
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

void MainWindow::showWorkspace(Workspace workspace) {
    if (sideBar_->currentRow() != int(workspace)) sideBar_->setCurrentRow(int(workspace));
    pages_->setCurrentIndex(int(workspace));
    if (workspace == Compare) comparePage_->setFocus();
}

MainWindow::Workspace MainWindow::currentWorkspace() const { return Workspace(pages_->currentIndex()); }

QString MainWindow::deviceText() const {
    const auto devices = atelier::available_devices();
    const bool cuda = QString::fromStdString(devices.front().name).startsWith(QLatin1String("cuda"));
    const int threads = atelier::compute_threads();
    return QStringLiteral("%1 · %2 %3")
        .arg(cuda ? QStringLiteral("CUDA") : QStringLiteral("CPU"))
        .arg(threads)
        .arg(threads == 1 ? tr("thread") : tr("threads"));
}

QString MainWindow::modelText() const {
    if (options_.modelPath.isEmpty()) return tr("no model loaded");
    if (runner_ && runner_->hasModel() && !runner_->modelInfo().family.empty())
        return tr("model: %1 (%2)").arg(QFileInfo(options_.modelPath).fileName(),
                                        QString::fromStdString(runner_->modelInfo().family));
    return tr("model: %1").arg(QFileInfo(options_.modelPath).fileName());
}

#include "moc_MainWindow.cpp"
