// MainWindow: the studio's four workspaces (Generate, Compare, Concepts, Memory) in a side bar,
// the store and the current profile, and a status bar with the profile, the model and the device.
#pragma once
#include <QMainWindow>
#include <functional>
#include <memory>

#include "GeneratePage.h"

#include "atelier/store.h"

class ComparePage;
class ConceptsPage;
class GeneratePage;
class JobRunner;
class MemoryPage;
class PreviewView;
class PresenterWindow;
class QComboBox;
class QLabel;
class QListWidget;
class QMenu;
class QStackedWidget;
class QTabWidget;
class TastePanel;

struct StudioOptions {
    QString modelPath;   // the model to load at start-up; empty: none
    QString dataDir;     // empty: the default data directory
    QString profile;     // the person to start as; empty: the last one (or a new one named after $USER)
    QString device = QStringLiteral("auto");
    int previewInterval = 1;
    // On a first launch (the profile has generated nothing yet), draw the model's example prompt as soon as the
    // model is loaded, so the studio opens on a picture rather than an empty view.
    bool firstPicture = false;
};

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const StudioOptions& options, QWidget* parent = nullptr);
    ~MainWindow() override;

    enum Workspace { Generate = 0, Compare, Concepts, Memory };
    void showWorkspace(Workspace workspace);
    Workspace currentWorkspace() const;
    PreviewView* liveView() const;
    GeneratePage* generatePage() const { return generatePage_; }
    ComparePage* comparePage() const { return comparePage_; }
    ConceptsPage* conceptsPage() const { return conceptsPage_; }
    MemoryPage* memoryPage() const { return memoryPage_; }
    TastePanel* tastePanel() const { return tastePanel_; }
    QTabWidget* memoryTabs() const { return memoryTabs_; }
    JobRunner* jobRunner() const { return runner_; }
    atelier::Store* store() const { return store_.get(); }
    int64_t profileId() const { return profileId_; }
    QString deviceText() const;
    QString modelText() const;
    QString storeError() const { return storeError_; }

    // Loads a model on the worker thread; errors appear as a message box and in the status bar.
    void openModel(const QString& path);
    void setProfile(int64_t profileId);
    // Adds an AnimateDiff motion module to the loaded model (on the worker thread).
    void loadMotionModule(const QString& path);

Q_SIGNALS:
    void motionModuleLoaded(const QString& path);

public:
    // The full-screen live view for an audience (View > Presenter, F11; Esc leaves).
    PresenterWindow* showPresenter(bool fullScreen = true);
    PresenterWindow* presenter() const { return presenter_; }

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    // StudioOptions::firstPicture: the model's example prompt, drawn when the profile has made nothing yet.
    void drawFirstPicture(const QString& example);
    void configurePresenter();
    // The presenter HUD's taste line: A's reward ± sd under the profile's taste model, and P(A over B).
    QString tasteLine(const QImage& a, const QImage& b) const;
    void openStore();
    void refreshProfiles();
    void newProfileDialog();
    void openModelDialog();
    void openSettings();
    void rememberRecentModel(const QString& path);
    void rebuildRecentMenu();
    void recordGenerations(const QVector<struct GeneratedImage>& images, const QString& effectivePrompt);

    StudioOptions options_;
    std::unique_ptr<atelier::Store> store_;
    QString storeError_;
    int64_t profileId_ = 0;
    QListWidget* sideBar_ = nullptr;
    QStackedWidget* pages_ = nullptr;
    JobRunner* runner_ = nullptr;
    GeneratePage* generatePage_ = nullptr;
    ComparePage* comparePage_ = nullptr;
    ConceptsPage* conceptsPage_ = nullptr;
    MemoryPage* memoryPage_ = nullptr;
    TastePanel* tastePanel_ = nullptr;
    QTabWidget* memoryTabs_ = nullptr;
    PresenterWindow* presenter_ = nullptr;
    std::function<EffectivePrompt(const QString&, const QString&)> rules_;
    QMenu* recentMenu_ = nullptr;
    QComboBox* profileBox_ = nullptr;
    QLabel* deviceLabel_ = nullptr;
    QLabel* modelLabel_ = nullptr;
    QString loadingPath_;
};
