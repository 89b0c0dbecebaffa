#include "TastePanel.h"
#include "SettingsDialog.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <cmath>

#include "Charts.h"
#include "atelier/store.h"
#include "atelier/taste.h"

TastePanel::TastePanel(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    auto* layout = new QVBoxLayout(this);
    status_ = new QLabel(tr("The studio learns your taste from the pairs you judge in Compare."));
    status_->setObjectName(QStringLiteral("tasteStatus"));
    status_->setWordWrap(true);
    accuracy_ = new QLabel;
    accuracy_->setObjectName(QStringLiteral("tasteAccuracy"));
    accuracy_->setStyleSheet(QStringLiteral("font-size: 15px; font-weight: bold;"));
    auto* buttons = new QHBoxLayout;
    learnButton_ = new QPushButton(tr("Learn from my choices"));
    learnButton_->setObjectName(QStringLiteral("learnTaste"));
    writeButton_ = new QPushButton(tr("Write what it learned into memory"));
    writeButton_->setObjectName(QStringLiteral("writeTaste"));
    connect(learnButton_, &QPushButton::clicked, this, &TastePanel::learn);
    connect(writeButton_, &QPushButton::clicked, this, &TastePanel::writeToMemory);
    buttons->addWidget(learnButton_);
    buttons->addWidget(writeButton_);
    directions_ = new BarChart;
    directions_->setObjectName(QStringLiteral("tasteDirections"));
    curve_ = new LineChart;
    curve_->setObjectName(QStringLiteral("tasteCurve"));
    mixture_ = new QLabel;
    mixture_->setWordWrap(true);
    layout->addWidget(status_);
    layout->addLayout(buttons);
    layout->addWidget(accuracy_);
    layout->addWidget(new QLabel(tr("<b>What it learned</b> (weights on standardized features, ± 1 sd)")));
    layout->addWidget(directions_);
    layout->addWidget(new QLabel(tr("<b>Learning curve</b>: accuracy on your own held-out choices")));
    layout->addWidget(curve_, 1);
    layout->addWidget(mixture_);
}

void TastePanel::setProfile(const QString& dataDir, int64_t profileId) {
    dataDir_ = dataDir;
    profileId_ = profileId;
    summary_ = {};
    show();
}

void TastePanel::learn() { run(false); }
void TastePanel::writeToMemory() { run(true); }

void TastePanel::run(bool writeMemory) {
    if (!profileId_) return;
    learnButton_->setEnabled(false);
    writeButton_->setEnabled(false);
    status_->setText(tr("Learning from your choices…"));
    auto result = std::make_shared<Summary>();
    const std::string dataDir = dataDir_.toStdString();
    const int64_t profileId = profileId_;
    runner_->run(
        [result, dataDir, profileId, writeMemory] {
            using namespace atelier::taste;
            atelier::StoreOptions options;
            options.data_dir = dataDir;
            auto store = atelier::Store::open(options);
            const auto extractor = make_feature_extractor(tasteFeatureSet());
            ProfileFit fit = fit_profile(*store, profileId, *extractor, 5, true, true);
            store->save_reward_model(to_record(fit.model, profileId, fit.heldout_accuracy));
            result->choices = int(fit.data.labels.size());
            result->heldoutAccuracy = fit.heldout_accuracy;
            for (const auto& [n, accuracy] : fit.learning_curve) result->learningCurve.push_back(QPointF(n, accuracy));
            DirectionOptions loose;  // the chart shows the strongest weights, not only what the memory takes
            loose.min_z = 0;
            loose.min_weight = 0;
            for (const LearnedDirection& d : learned_directions(fit.model, fit.data, loose)) {
                const QString phrase = d.phrase ? QString::fromStdString(d.phrase->description)
                                                : QString::fromStdString(d.feature_name);
                result->directions << phrase;
                result->weights << d.weight;
                result->errors << d.sd;
            }
            // The prototype mixture: other people's fitted models as a cold start.
            std::vector<RewardModel> others;
            for (const atelier::Profile& p : store->list_profiles()) {
                if (p.id == profileId) continue;
                if (auto record = store->latest_reward_model(p.id, extractor->feature_set())) others.push_back(from_record(*record));
            }
            if (others.size() >= 3) {
                Learner learner(extractor->feature_set(), extractor->names());
                learner.set_prototypes(fit_prototypes(others, std::min<int>(4, int(others.size()) - 1)));
                for (const auto& item : fit.data.items) learner.add_item(item);
                for (const PairLabel& l : fit.data.labels) learner.add_judgement(l.first, l.second, l.choice, l.strength);
                const std::vector<double> w = learner.mixture_weights();
                for (size_t k = 0; k + 1 < w.size(); ++k)
                    result->mixture << QObject::tr("prototype %1: %2%").arg(k + 1).arg(100 * w[k], 0, 'f', 0);
                if (!w.empty()) result->mixture << QObject::tr("you: %1%").arg(100 * w.back(), 0, 'f', 0);
            }
            if (writeMemory) {
                const MemoryWriteReport report = write_memory(*store, profileId, fit.model, fit.data);
                for (const auto& t : report.added) result->memoryChanges << QObject::tr("added: %1").arg(QString::fromStdString(t));
                for (const auto& t : report.updated) result->memoryChanges << QObject::tr("updated: %1").arg(QString::fromStdString(t));
                for (const auto& t : report.retired) result->memoryChanges << QObject::tr("retired: %1").arg(QString::fromStdString(t));
                for (const auto& t : report.kept_user) result->memoryChanges << QObject::tr("kept yours: %1").arg(QString::fromStdString(t));
            }
        },
        [this, result, writeMemory](const QString& error) {
            learnButton_->setEnabled(true);
            writeButton_->setEnabled(true);
            if (!error.isEmpty()) {
                status_->setText(error);
                return;
            }
            summary_ = *result;
            show();
            Q_EMIT learned();
            if (writeMemory) {
                status_->setText(summary_.memoryChanges.isEmpty()
                                     ? tr("No direction is strong enough for the memory yet.")
                                     : tr("Memory: %1").arg(summary_.memoryChanges.join(QStringLiteral("; "))));
                Q_EMIT memoryChanged();
            }
        });
}

void TastePanel::show() {
    if (summary_.choices == 0) {
        accuracy_->clear();
        directions_->setBars({});
        curve_->setPoints({}, 0.4, 1.0, true, {});
        mixture_->setText(tr("Prototype mixture: needs fitted models of at least 3 other profiles."));
        return;
    }
    status_->setText(tr("Learned from %1 choices.").arg(summary_.choices));
    accuracy_->setText(tr("Predicts your held-out choices %1% of the time").arg(100 * summary_.heldoutAccuracy, 0, 'f', 0));
    QVector<BarChart::Bar> bars;
    for (int i = 0; i < summary_.directions.size(); ++i) bars.push_back({summary_.directions[i], summary_.weights[i], summary_.errors[i]});
    directions_->setBars(bars);
    curve_->setPoints(summary_.learningCurve, 0.4, 1.0, true, tr("held-out accuracy"));
    mixture_->setText(summary_.mixture.isEmpty()
                          ? tr("Prototype mixture: needs fitted models of at least 3 other profiles.")
                          : tr("Prototype mixture: %1").arg(summary_.mixture.join(QStringLiteral(" · "))));
}

#include "moc_TastePanel.cpp"
