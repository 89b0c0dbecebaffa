// MainWindow: the studio's four workspaces (Generate, Compare, Concepts, Memory) in a side bar,
// and a status bar with the device and the loaded model.
#pragma once
#include <QMainWindow>

class QLabel;
class QListWidget;
class QStackedWidget;
class PreviewView;

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
    PreviewView* liveView() const { return liveView_; }
    QString deviceText() const;
    QString modelText() const;

private:
    QWidget* buildGeneratePage();
    QWidget* buildPlaceholderPage(const QString& title, const QString& text);

    StudioOptions options_;
    QListWidget* sideBar_ = nullptr;
    QStackedWidget* pages_ = nullptr;
    PreviewView* liveView_ = nullptr;
    QLabel* deviceLabel_ = nullptr;
    QLabel* modelLabel_ = nullptr;
};
