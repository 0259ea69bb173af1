// Shape: the part of a server table a replica copies -- some columns (every key column always) and the rows
// that match a filter -- as delta_since(..., columns, filter) serves it (README, "Shapes").
//
// The replica records each table's shape in _delta_sync_state.shape (its canonical text below);
// a pull with another shape rebuilds the table, and `diff` compares the copy with the shape it
// holds. The filter is the server's to check: the client passes it as a parameter, never as SQL.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace delta_sync::client {

struct TableInfo;

struct Shape {
    std::optional<std::vector<std::string>> columns;  // empty optional: every column
    std::optional<std::string> filter;                 // empty optional: every row

    bool empty() const { return !columns && !filter; }
    // The text stored in the replica: "" for no shape, else a JSON object
    // {"columns":[...],"where":"..."} with the columns sorted and each once.
    std::string canonical() const;
    // Reads what canonical() wrote; Error on anything else.
    static Shape from_canonical(std::string_view text);
    // For --columns a,b,c: the names between commas (an empty text: the key's columns alone).
    static std::vector<std::string> column_list(std::string_view option);
};

// Restricts a described table to the shape: its replica columns become every column of the key
// and the shape's columns (in the server's order), and it records the shape. Error for a column the table does
// not have.
void apply_shape(TableInfo& info, const Shape& shape);

}  // namespace delta_sync::client
