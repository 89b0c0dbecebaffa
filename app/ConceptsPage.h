// ConceptsPage: create a concept (name, trigger token, class word, method), add 3-20 reference
// pictures (dropped or picked; validated and de-duplicated), and see each concept's pictures and status.
#pragma once
#include <QWidget>

#include "atelier/store.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;

class ConceptsPage : public QWidget {
    Q_OBJECT
public:
    explicit ConceptsPage(QWidget* parent = nullptr);
    void setStore(atelier::Store* store, int64_t profileId);
    void refresh();

    // Creates a concept from the form; returns its id (0 and a message on invalid input).
    int64_t createConcept(const QString& name, const QString& token, const QString& classWord, const QString& method);
    // Adds pictures to the selected concept; returns the messages for files that were refused.
    QStringList addImages(const QStringList& paths);
    int64_t selectedConcept() const { return conceptId_; }
    void selectConcept(int64_t id);
    QListWidget* conceptList() const { return concepts_; }
    QListWidget* imageList() const { return images_; }
    QStringList triggerTokens() const;

Q_SIGNALS:
    void conceptsChanged();
    void statusMessage(const QString& message);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void showConcept();
    void showProblems(const QStringList& problems);

    atelier::Store* store_ = nullptr;
    int64_t profileId_ = 0;
    int64_t conceptId_ = 0;
    QListWidget* concepts_ = nullptr;
    QLineEdit* name_ = nullptr;
    QLineEdit* token_ = nullptr;
    QLineEdit* classWord_ = nullptr;
    QComboBox* method_ = nullptr;
    QLabel* heading_ = nullptr;
    QLabel* details_ = nullptr;
    QListWidget* images_ = nullptr;
    QPushButton* addImages_ = nullptr;
    QPushButton* train_ = nullptr;
};
