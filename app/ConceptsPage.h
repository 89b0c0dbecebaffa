// ConceptsPage: create a concept (name, trigger token, class word, method), add 3-20 reference
// pictures (dropped or picked; validated and de-duplicated), caption them, and see each concept's pictures and status.
#pragma once
#include <QWidget>
#include <memory>

#include "JobRunner.h"

#include "atelier/engine.h"
#include "atelier/store.h"

namespace atelier {
struct TrainConceptRequest;
}

class JobRunner;
class LineChart;
class QProgressBar;
class QSlider;
class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QListWidgetItem;
class QPushButton;

class ConceptsPage : public QWidget {
    Q_OBJECT
public:
    explicit ConceptsPage(JobRunner* runner, QWidget* parent = nullptr);
    void setStore(atelier::Store* store, int64_t profileId);
    void refresh();

    // Creates a concept from the form; returns its id (0 and a message on invalid input).
    int64_t createConcept(const QString& name, const QString& token, const QString& classWord, const QString& method);
    // Adds pictures to the selected concept; returns the messages for files that were refused.
    QStringList addImages(const QStringList& paths);
    int64_t selectedConcept() const { return conceptId_; }
    void selectConcept(int64_t id);
    // Removes a concept and the file the studio trained for it (Store::delete_concept). Refused, with a message,
    // while a concept trains. The list's context menu and the Delete key ask first.
    bool deleteConcept(int64_t id);
    QListWidget* conceptList() const { return concepts_; }
    QListWidget* imageList() const { return images_; }
    QStringList triggerTokens() const;
    // The trained concepts whose trigger token the prompt uses, to apply to a generation.
    std::vector<atelier::ConceptSpec> conceptsFor(const QString& prompt) const;

    // Per-picture captions (kohya-style: the concept written as {} or its trigger token), kept in the concept's
    // training_settings_json as "captions": {"<asset id>": text}. A PICTURE.txt beside an added picture is its
    // caption. setCaption stores at once; empty text removes the caption. Returns the problem, empty when stored.
    QString setCaption(int64_t assetId, const QString& caption);
    QString caption(int64_t assetId) const;
    // The selected concept's training request: its pictures, and its captions (then no mirroring) when every
    // picture has one. False with `problem` when it cannot train as it is (too few pictures, some captions).
    bool buildTrainRequest(atelier::TrainConceptRequest& request, QString& problem) const;

    // Trains the selected concept with its method's preset on the worker thread (steps 0: the preset).
    void train(int steps = 0);
    void cancelTraining();
    bool isTraining() const { return cancel_ != nullptr; }

Q_SIGNALS:
    void conceptsChanged();
    void trainingFinished(int64_t conceptId, bool ok);
    void statusMessage(const QString& message);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void showConcept(bool pictures = true);  // false: the details only, the picture list as it is
    void showProblems(const QStringList& problems);
    void showCaption(QListWidgetItem* item, const QString& caption);
    void editCaption();  // the "Caption…" dialog for the selected picture

    void showPreview(const QVector<GeneratedImage>& images, bool personalized);
    QString artifactPath(const atelier::Concept& c) const;

    JobRunner* runner_;
    std::shared_ptr<atelier::CancelToken> cancel_;
    quint64 beforeTicket_ = 0, afterTicket_ = 0;
    atelier::Store* store_ = nullptr;
    int64_t profileId_ = 0;
    int64_t conceptId_ = 0;
    QListWidget* concepts_ = nullptr;
    QLineEdit* name_ = nullptr;
    QLineEdit* token_ = nullptr;
    QLineEdit* classWord_ = nullptr;
    QComboBox* method_ = nullptr;
    QCheckBox* textEncoder_ = nullptr;  // LoRA: also adapt the text encoder
    QCheckBox* convolutions_ = nullptr; // LoRA: also adapt the resnet convolutions (LoCon)
    QLabel* heading_ = nullptr;
    QLabel* details_ = nullptr;
    QListWidget* images_ = nullptr;
    QLabel* captionHint_ = nullptr;
    QPushButton* captionButton_ = nullptr;
    QPushButton* addImages_ = nullptr;
    QPushButton* train_ = nullptr;
    QPushButton* cancelTrain_ = nullptr;
    QPushButton* exportButton_ = nullptr;
    QProgressBar* trainProgress_ = nullptr;
    QLabel* trainStatus_ = nullptr;
    LineChart* lossCurve_ = nullptr;
    QVector<QPointF> losses_;
    QSlider* strength_ = nullptr;
    QListWidget* preview_ = nullptr;
};
