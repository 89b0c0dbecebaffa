#include "JobRunner.h"

#include <QElapsedTimer>
#include <QHash>
#include <QMutex>

#include "ImageConvert.h"
#include "atelier/error.h"
#include "atelier/system.h"

// A queued generation: its request and its own cancel token, so that cancelling the job in flight
// never swallows a job queued after the cancel (the newest prompt always runs).
struct PendingJob {
    atelier::GenerateRequest request;
    std::shared_ptr<atelier::CancelToken> cancel;
};

// Requests hold std::function members, so they travel to the worker by ticket through this table.
struct JobTable {
    QMutex mutex;
    QHash<quint64, PendingJob> jobs;
    QHash<quint64, std::function<void()>> tasks;
    QHash<quint64, std::function<void(atelier::Model&)>> modelTasks;
    quint64 nextTicket = 1;
};

class EngineWorker : public QObject {
    Q_OBJECT
public:
    explicit EngineWorker(std::shared_ptr<JobTable> table) : table_(std::move(table)) {}

public Q_SLOTS:
    void setThreads(int threads) { atelier::set_compute_threads(threads); }

    void runTask(quint64 ticket) {
        std::function<void()> work;
        std::function<void(atelier::Model&)> modelWork;
        {
            QMutexLocker lock(&table_->mutex);
            work = table_->tasks.take(ticket);
            modelWork = table_->modelTasks.take(ticket);
        }
        QString error;
        try {
            if (work) work();
            if (modelWork) {
                if (!model_) throw atelier::Error("No model is loaded: open one with File > Open model.");
                modelWork(*model_);
            }
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        Q_EMIT taskDone(ticket, error);
        Q_EMIT jobDone();
    }

    void load(const QString& path, const QString& device) {
        try {
            atelier::LoadOptions options;
            options.path = path.toStdString();
            options.device = device.toStdString();
            model_.reset();
            model_ = atelier::Model::load(options);
            Q_EMIT loaded(model_->info());
        } catch (const std::exception& e) {
            model_.reset();
            Q_EMIT loadFailed(path, QString::fromStdString(e.what()));
        }
        Q_EMIT jobDone();
    }

    void generate(quint64 ticket) {
        PendingJob job;
        {
            QMutexLocker lock(&table_->mutex);
            job = table_->jobs.value(ticket);
        }
        atelier::GenerateRequest& request = job.request;
        const std::shared_ptr<atelier::CancelToken> cancel = job.cancel;
        auto finish = [this, ticket] {
            QMutexLocker lock(&table_->mutex);
            table_->jobs.remove(ticket);
        };
        if (!cancel || cancel->cancelled()) {
            finish();
            Q_EMIT cancelled(ticket);
            Q_EMIT jobDone();
            return;
        }
        if (!model_) {
            finish();
            Q_EMIT failed(ticket, QObject::tr("No model is loaded: open one with File > Open model."));
            Q_EMIT jobDone();
            return;
        }
        QElapsedTimer clock;
        clock.start();
        request.cancel = cancel.get();
        request.on_progress = [this, ticket, &clock, &cancel](int step, int total) {
            const double elapsed = clock.elapsed() / 1000.0;
            const double eta = step > 0 ? elapsed / step * (total - step) : -1.0;
            Q_EMIT progress(ticket, step, total, eta);
            return !cancel->cancelled();
        };
        request.on_preview = [this, ticket](int step, const atelier::Image& image) {
            Q_EMIT preview(ticket, step, toQImage(image));
        };
        try {
            atelier::GenerateResult result = atelier::generate(*model_, request);
            if (result.cancelled) {
                Q_EMIT cancelled(ticket);
            } else {
                QVector<GeneratedImage> images;
                for (size_t i = 0; i < result.images.size(); ++i) {
                    images.push_back({toQImage(result.images[i]), result.params[i], result.duration_ms});
                }
                Q_EMIT generated(ticket, images);
            }
        } catch (const std::exception& e) {
            Q_EMIT failed(ticket, QString::fromStdString(e.what()));
        }
        finish();
        Q_EMIT jobDone();
    }

Q_SIGNALS:
    void loaded(const atelier::ModelInfo& info);
    void loadFailed(const QString& path, const QString& message);
    void progress(quint64 ticket, int step, int total, double etaSeconds);
    void preview(quint64 ticket, int step, const QImage& image);
    void generated(quint64 ticket, const QVector<GeneratedImage>& images);
    void failed(quint64 ticket, const QString& message);
    void cancelled(quint64 ticket);
    void taskDone(quint64 ticket, const QString& error);
    void jobDone();

private:
    std::shared_ptr<JobTable> table_;
    std::shared_ptr<atelier::Model> model_;  // lives and dies on the worker thread
};

JobRunner::JobRunner(QObject* parent) : QObject(parent), jobs_(std::make_shared<JobTable>()) {
    qRegisterMetaType<GeneratedImage>();
    qRegisterMetaType<QVector<GeneratedImage>>();
    qRegisterMetaType<atelier::ModelInfo>();
    worker_ = new EngineWorker(jobs_);
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(this, &JobRunner::requestLoad, worker_, &EngineWorker::load, Qt::QueuedConnection);
    connect(this, &JobRunner::requestGenerate, worker_, &EngineWorker::generate, Qt::QueuedConnection);
    connect(this, &JobRunner::requestThreads, worker_, &EngineWorker::setThreads, Qt::QueuedConnection);
    connect(this, &JobRunner::requestTask, worker_, &EngineWorker::runTask, Qt::QueuedConnection);
    connect(worker_, &EngineWorker::taskDone, this, [this](quint64 ticket, const QString& error) {
        auto done = taskCallbacks_.take(ticket);
        if (done) done(error);
    });
    connect(worker_, &EngineWorker::loaded, this, [this](const atelier::ModelInfo& info) {
        hasModel_ = true;
        modelInfo_ = info;
        Q_EMIT modelLoaded(info);
    });
    connect(worker_, &EngineWorker::loadFailed, this, [this](const QString& path, const QString& message) {
        hasModel_ = false;
        modelInfo_ = {};
        Q_EMIT modelFailed(path, message);
    });
    connect(worker_, &EngineWorker::progress, this, &JobRunner::progress);
    connect(worker_, &EngineWorker::preview, this, &JobRunner::preview);
    connect(worker_, &EngineWorker::generated, this, &JobRunner::generated);
    connect(worker_, &EngineWorker::failed, this, &JobRunner::generationFailed);
    connect(worker_, &EngineWorker::cancelled, this, &JobRunner::generationCancelled);
    connect(worker_, &EngineWorker::jobDone, this, [this] {
        if (--pendingJobs_ <= 0) {
            pendingJobs_ = 0;
            setBusy(false);
        }
    });
    thread_.setObjectName(QStringLiteral("atelier-engine"));
    thread_.start();
}

JobRunner::~JobRunner() {
    cancel();
    thread_.requestInterruption();
    thread_.quit();
    thread_.wait();
}

void JobRunner::setBusy(bool busy) {
    if (busy_ == busy) return;
    busy_ = busy;
    Q_EMIT busyChanged(busy);
}

void JobRunner::loadModel(const QString& path, const QString& device) {
    ++pendingJobs_;
    setBusy(true);
    Q_EMIT requestLoad(path, device);
}

quint64 JobRunner::generate(const atelier::GenerateRequest& request) {
    quint64 ticket;
    {
        QMutexLocker lock(&jobs_->mutex);
        ticket = jobs_->nextTicket++;
        PendingJob job{request, std::make_shared<atelier::CancelToken>()};
        job.request.preview_interval = previewInterval_;
        jobs_->jobs.insert(ticket, job);
    }
    ++pendingJobs_;
    setBusy(true);
    Q_EMIT requestGenerate(ticket);
    return ticket;
}

void JobRunner::run(std::function<void()> work, std::function<void(const QString&)> done) {
    quint64 ticket;
    {
        QMutexLocker lock(&jobs_->mutex);
        ticket = jobs_->nextTicket++;
        jobs_->tasks.insert(ticket, std::move(work));
    }
    taskCallbacks_.insert(ticket, std::move(done));
    ++pendingJobs_;
    setBusy(true);
    Q_EMIT requestTask(ticket);
}

void JobRunner::runWithModel(std::function<void(atelier::Model&)> work, std::function<void(const QString&)> done) {
    quint64 ticket;
    {
        QMutexLocker lock(&jobs_->mutex);
        ticket = jobs_->nextTicket++;
        jobs_->modelTasks.insert(ticket, std::move(work));
    }
    taskCallbacks_.insert(ticket, std::move(done));
    ++pendingJobs_;
    setBusy(true);
    Q_EMIT requestTask(ticket);
}

void JobRunner::cancel() {
    QMutexLocker lock(&jobs_->mutex);
    for (const PendingJob& job : std::as_const(jobs_->jobs)) job.cancel->cancel();
}

void JobRunner::cancel(quint64 ticket) {
    QMutexLocker lock(&jobs_->mutex);
    const auto found = jobs_->jobs.constFind(ticket);
    if (found != jobs_->jobs.constEnd()) found->cancel->cancel();
}

#include "JobRunner.moc"

#include "moc_JobRunner.cpp"
