// DeltaPage: one DeltaResponse document of delta_since(), parsed with simdjson's On-Demand API.
//
// A page is parsed in full before it is applied, because the document lists its buckets as
// created, updated, deleted while they must be applied as deleted, updated, created. Field names
// and values are views into the parser's buffers, so a page costs about its JSON text once more,
// and the next parse() reuses those buffers: memory is bounded by the largest page.
#pragma once

#include "sql_value.hpp"

#include <simdjson.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace delta_sync::client {

struct Field {
    std::string_view name;
    SqlValue value;  // by the untyped rule of sql_value.hpp
    // The value's JSON text exactly as the server wrote it ("\"a\"", 1.50, {"k": null}).
    std::string_view json{};
};

// One record: a range of the page's fields, in the order the server wrote them.
struct Record {
    const Field* first;
    const Field* last;
    const Field* begin() const { return first; }
    const Field* end() const { return last; }
    std::size_t size() const { return static_cast<std::size_t>(last - first); }
    // The field called name, or null.
    const Field* find(std::string_view name) const;
};

class DeltaPage {
public:
    std::vector<Record> created() const { return records(created_); }
    std::vector<Record> updated() const { return records(updated_); }
    // Primary keys of deleted rows, as the strings the server sent.
    const std::vector<std::string_view>& deleted() const { return deleted_; }
    const std::string& server_version() const { return server_version_; }
    bool full_resync_required() const { return full_resync_required_; }
    std::size_t entries() const { return created_.size() + updated_.size() + deleted_.size(); }

private:
    friend class DeltaPageParser;
    using Range = std::pair<std::size_t, std::size_t>;
    std::vector<Record> records(const std::vector<Range>& ranges) const;
    void clear();

    std::vector<Field> fields_;
    std::vector<Range> created_, updated_;
    std::vector<std::string_view> deleted_;
    std::string server_version_;
    bool full_resync_required_ = false;
};

class DeltaPageParser {
public:
    // Parses one document. The returned page, and every view in it, stays valid until the next
    // call. Throws Error when the text is not a DeltaResponse document.
    const DeltaPage& parse(std::string_view json);

private:
    void parse_records(simdjson::ondemand::value bucket, std::vector<DeltaPage::Range>& out);

    simdjson::ondemand::parser parser_;
    std::unique_ptr<char[]> input_;  // the document with the padding simdjson reads past its end
    std::size_t input_capacity_ = 0;
    DeltaPage page_;
};

}  // namespace delta_sync::client
