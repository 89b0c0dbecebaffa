// JobRunner: one worker thread owns the engine and runs a queue of jobs (load a model, generate).
// Progress and previews reach the GUI as queued signals; cancel is an atomic token checked by the
// engine at every step. The GUI thread never runs torch.
#pragma once
#include <QHash>
#include <QImage>
#include <QObject>
#include <QThread>
#include <QVector>
#include <functional>
#include <memory>

#include "atelier/engine.h"

// What a finished generation hands back to the GUI.
struct GeneratedImage {
    QImage image;
    atelier::GenerationParams params;
    double durationMs = 0;
};
Q_DECLARE_METATYPE(GeneratedImage)
Q_DECLARE_METATYPE(QVector<GeneratedImage>)
Q_DECLARE_METATYPE(atelier::ModelInfo)

class EngineWorker;
struct JobTable;

class JobRunner : public QObject {
    Q_OBJECT
public:
    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;  // cancels the running job and waits for the worker to stop

    // Queue jobs; they run one after another on the worker thread. generate() returns the job's
    // ticket: every signal of that job carries it, so each page follows only its own jobs.
    void loadModel(const QString& path, const QString& device = QStringLiteral("auto"));
    quint64 generate(const atelier::GenerateRequest& request);
    // Any other engine work (fitting a taste model, training): `work` runs on the worker thread after
    // the jobs queued before it, `done` then runs on the GUI thread with its error message (empty: ok).
    // `work` must not touch GUI objects or the GUI thread's Store (open another one).
    void run(std::function<void()> work, std::function<void(const QString& error)> done);
    // The same with the loaded model (training a concept); fails with a message when none is loaded.
    void runWithModel(std::function<void(atelier::Model&)> work, std::function<void(const QString& error)> done);
    // Cancels the generations in flight and queued (all, or one ticket); returns at once.
    void cancel();
    void cancel(quint64 ticket);

    bool isBusy() const { return busy_; }
    bool hasModel() const { return hasModel_; }
    const atelier::ModelInfo& modelInfo() const { return modelInfo_; }
    int previewInterval() const { return previewInterval_; }
    void setPreviewInterval(int steps) { previewInterval_ = steps; }
    // Compute threads for the engine (0: one per CPU), applied on the worker thread.
    void setThreads(int threads) { Q_EMIT requestThreads(threads); }

Q_SIGNALS:
    void busyChanged(bool busy);
    void modelLoaded(const atelier::ModelInfo& info);
    void modelFailed(const QString& path, const QString& message);
    void progress(quint64 ticket, int step, int total, double etaSeconds);
    void preview(quint64 ticket, int step, const QImage& image);
    void generated(quint64 ticket, const QVector<GeneratedImage>& images);
    void generationFailed(quint64 ticket, const QString& message);
    void generationCancelled(quint64 ticket);

    // Internal: forwarded to the worker thread.
    void requestLoad(const QString& path, const QString& device);
    void requestGenerate(quint64 ticket);
    void requestThreads(int threads);
    void requestTask(quint64 ticket);

private:
    void setBusy(bool busy);

    QThread thread_;
    EngineWorker* worker_ = nullptr;
    std::shared_ptr<JobTable> jobs_;
    QHash<quint64, std::function<void(const QString&)>> taskCallbacks_;
    bool busy_ = false;
    int pendingJobs_ = 0;
    bool hasModel_ = false;
    atelier::ModelInfo modelInfo_;
    int previewInterval_ = 1;
};
