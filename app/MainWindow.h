// MainWindow: the studio's four workspaces (Generate, Compare, Concepts, Memory) in a side bar,
// and a status bar with the device and the loaded model.
#pragma once
#include <QMainWindow>

class QLabel;
class QListWidget;
class QStackedWidget;
class PreviewView;
class GeneratePage;
class JobRunner;
class QMenu;

struct StudioOptions {
    QString modelPath;   // the model to load at start-up; empty: none
    QString dataDir;     // empty: the default data directory
};

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const StudioOptions& options, QWidget* parent = nullptr);

    enum Workspace { Generate = 0, Compare, Concepts, Memory };
    void showWorkspace(Workspace workspace);
    Workspace currentWorkspace() const;
    PreviewView* liveView() const;
    GeneratePage* generatePage() const { return generatePage_; }
    JobRunner* jobRunner() const { return runner_; }
    // Loads a model on the worker thread; errors appear as a message box and in the status bar.
    void openModel(const QString& path);
    QString deviceText() const;
    QString modelText() const;

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void openModelDialog();
    void rememberRecentModel(const QString& path);
    void rebuildRecentMenu();
    QWidget* buildPlaceholderPage(const QString& title, const QString& text);

    StudioOptions options_;
    QListWidget* sideBar_ = nullptr;
    QStackedWidget* pages_ = nullptr;
    JobRunner* runner_ = nullptr;
    GeneratePage* generatePage_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QString loadingPath_;
    QLabel* deviceLabel_ = nullptr;
    QLabel* modelLabel_ = nullptr;
};
