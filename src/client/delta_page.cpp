// Parsing a DeltaResponse document (see delta_page.hpp).
#include "delta_page.hpp"

#include "errors.hpp"

#include <cstring>

namespace delta_sync::client {

namespace ondemand = simdjson::ondemand;

const Field* Record::find(std::string_view name) const {
    for (const Field* f = first; f != last; ++f)
        if (f->name == name) return f;
    return nullptr;
}

std::vector<Record> DeltaPage::records(const std::vector<Range>& ranges) const {
    std::vector<Record> out;
    out.reserve(ranges.size());
    for (const Range& r : ranges)
        out.push_back({fields_.data() + r.first, fields_.data() + r.second});
    return out;
}

void DeltaPage::clear() {
    fields_.clear();
    created_.clear();
    updated_.clear();
    deleted_.clear();
    server_version_.clear();
    full_resync_required_ = false;
}

namespace {

// raw_json_token() ends with whatever whitespace followed the token.
std::string_view trim(std::string_view s) {
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// The value by the untyped rule, and its JSON text.
SqlValue field_value(ondemand::value v, std::string_view& json) {
    switch (v.type().value()) {
        case ondemand::json_type::null:
            json = trim(v.raw_json_token());
            return SqlValue::null_value();
        case ondemand::json_type::boolean:
            json = trim(v.raw_json_token());
            return SqlValue::of_integer(v.get_bool().value() ? 1 : 0);
        case ondemand::json_type::string:
            json = trim(v.raw_json_token());
            return SqlValue::of_text(v.get_string().value());
        case ondemand::json_type::number:
            json = trim(v.raw_json_token());
            return value_of_json_number(json);
        case ondemand::json_type::object:
            json = v.get_object().value().raw_json().value();
            return SqlValue::of_text(json);
        case ondemand::json_type::array:
            json = v.get_array().value().raw_json().value();
            return SqlValue::of_text(json);
    }
    throw Error("unexpected JSON value in a record");
}

}  // namespace

namespace {

// A key as a view into the document when it has no escape (every ordinary column name), else
// unescaped into the parser's string buffer.
std::string_view field_name(ondemand::field& field) {
    const char* start = field.key().raw();
    for (const char* p = start;; ++p) {
        if (*p == '"') return std::string_view(start, static_cast<std::size_t>(p - start));
        if (*p == '\\') return field.unescaped_key().value();
    }
}

}  // namespace

void DeltaPageParser::parse_records(ondemand::value bucket, std::vector<DeltaPage::Range>& out) {
    for (auto element : bucket.get_array()) {
        std::size_t begin = page_.fields_.size();
        for (auto field_result : element.get_object()) {
            ondemand::field field;
            if (auto error = std::move(field_result).get(field)) throw simdjson::simdjson_error(error);
            std::string_view name = field_name(field);
            std::string_view json;
            SqlValue value = field_value(field.value(), json);
            page_.fields_.push_back({name, value, json});
        }
        out.emplace_back(begin, page_.fields_.size());
    }
}

const DeltaPage& DeltaPageParser::parse(std::string_view json) {
    page_.clear();
    std::size_t need = json.size() + simdjson::SIMDJSON_PADDING;
    if (need > input_capacity_) {
        input_capacity_ = need + need / 2;
        input_ = std::make_unique<char[]>(input_capacity_);
    }
    std::memcpy(input_.get(), json.data(), json.size());
    std::memset(input_.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);
    bool have_version = false;
    try {
        ondemand::document doc = parser_.iterate(
            simdjson::padded_string_view(input_.get(), json.size(), input_capacity_));
        for (auto field : doc.get_object()) {
            std::string_view key = field.unescaped_key().value();
            ondemand::value value = field.value().value();
            if (key == "created") {
                parse_records(value, page_.created_);
            } else if (key == "updated") {
                parse_records(value, page_.updated_);
            } else if (key == "deleted") {
                for (auto id : value.get_array()) {
                    ondemand::value v = id.value();
                    // Keys are strings by contract; a number is taken as its literal text.
                    if (v.type().value() == ondemand::json_type::string)
                        page_.deleted_.push_back(v.get_string().value());
                    else
                        page_.deleted_.push_back(trim(v.raw_json_token()));
                }
            } else if (key == "serverVersion") {
                page_.server_version_ = std::string(value.get_string().value());
                have_version = true;
            } else if (key == "fullResyncRequired") {
                page_.full_resync_required_ = value.get_bool().value();
            }
        }
    } catch (const simdjson::simdjson_error& e) {
        throw Error(std::string("malformed delta document: ") + e.what());
    } catch (const Error& e) {
        throw Error(std::string("malformed delta document: ") + e.what());
    }
    if (!have_version) throw Error("malformed delta document: no serverVersion");
    return page_;
}

}  // namespace delta_sync::client
