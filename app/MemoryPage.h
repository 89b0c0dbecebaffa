// MemoryPage: the profile's preference memory as an editable table (text, kind, weight, active,
// source, updated), with filter and search, undo/redo of every edit (QUndoStack over the store's
// history), and a side pane with the selected entry's provenance and history.
#pragma once
#include <QAbstractTableModel>
#include <QWidget>
#include <vector>

#include "atelier/store.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QTableView;
class QUndoStack;

class MemoryModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Text = 0, Kind, Weight, Active, Source, Updated, ColumnCount };
    explicit MemoryModel(QUndoStack* undo, QObject* parent = nullptr);

    void setStore(atelier::Store* store, int64_t profileId);
    void setFilter(const QString& kind, const QString& search);
    void reload();
    const atelier::MemoryEntry& entryAt(int row) const { return entries_.at(size_t(row)); }
    int rowOf(int64_t entryId) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role) override;

private:
    atelier::Store* store_ = nullptr;
    int64_t profileId_ = 0;
    QString kind_, search_;
    std::vector<atelier::MemoryEntry> entries_;
    QUndoStack* undo_;
};

class MemoryPage : public QWidget {
    Q_OBJECT
public:
    explicit MemoryPage(QWidget* parent = nullptr);
    ~MemoryPage() override;
    void setStore(atelier::Store* store, int64_t profileId);
    void reload();

    // The actions of the page's buttons, without dialogs (the buttons ask first).
    int64_t addEntry(const QString& kind, const QString& text, double weight = 1.0);
    void editEntry(int64_t id, const QString& text, const QString& kind, double weight, bool active);
    void deleteEntry(int64_t id);

    MemoryModel* model() const { return model_; }
    QTableView* table() const { return table_; }
    QUndoStack* undoStack() const { return undo_; }
    QListWidget* historyList() const { return history_; }
    QListWidget* provenanceList() const { return provenance_; }

Q_SIGNALS:
    void memoryChanged();
    void statusMessage(const QString& message);

private:
    void showSelected();
    void exportMemory();
    void importMemory();

    atelier::Store* store_ = nullptr;
    int64_t profileId_ = 0;
    QUndoStack* undo_ = nullptr;
    MemoryModel* model_ = nullptr;
    QTableView* table_ = nullptr;
    QComboBox* kindFilter_ = nullptr;
    QLineEdit* search_ = nullptr;
    QLabel* selectedTitle_ = nullptr;
    QListWidget* provenance_ = nullptr;
    QListWidget* history_ = nullptr;
};
