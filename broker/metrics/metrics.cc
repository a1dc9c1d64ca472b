#include "metrics/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sdbox::broker::metrics {
namespace {

bool is_name_start(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
}

bool is_name_char(char c, bool colon_allowed) { return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9'); }

bool is_valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty() || !is_name_start(name.front(), colon_allowed)) {
    return false;
  }
  return std::all_of(name.begin() + 1, name.end(), [&](char c) { return is_name_char(c, colon_allowed); });
}

void check_label_names(const std::string& metric, const std::vector<std::string>& label_names) {
  std::set<std::string_view> seen;
  for (const auto& label : label_names) {
    if (!is_valid_name(label, false) || label.starts_with("__")) {
      throw std::invalid_argument(fmt::format("metric {}: invalid label name '{}'", metric, label));
    }
    if (!seen.insert(label).second) {
      throw std::invalid_argument(fmt::format("metric {}: label '{}' given twice", metric, label));
    }
  }
}

/// Length of the well-formed UTF-8 sequence starting at `at` (RFC 3629: no overlongs, no
/// surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) {
    return 1;
  }
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (at + length > text.size() || byte(at + 1) < low || byte(at + 1) > high) {
    return 0;
  }
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) {
      return 0;
    }
  }
  return length;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = utf8_sequence_length(text, at);
    if (length == 0) {
      return false;
    }
    at += length;
  }
  return true;
}

std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = utf8_sequence_length(text, at);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++at;
    } else {
      out.append(text.substr(at, length));
      at += length;
    }
  }
  return out;
}

void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view le = {}) {
  if (names.empty() && le.empty()) {
    return;
  }
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!names.empty()) {
      out += ',';
    }
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, double value) {
  out += name;
  append_labels(out, label_names, label_values);
  out += ' ';
  out += format_value(value);
  out += '\n';
}

void render_metric(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, const Counter& counter) {
  append_sample(out, name, label_names, label_values, counter.value());
}

void render_metric(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, const Gauge& gauge) {
  append_sample(out, name, label_names, label_values, gauge.value());
}

void render_metric(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, const Histogram& histogram) {
  const auto& bounds = histogram.upper_bounds();
  const auto& counts = histogram.bucket_counts();
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < bounds.size() ? format_value(bounds[i]) : "+Inf";
    out += name;
    out += "_bucket";
    append_labels(out, label_names, label_values, le);
    out += ' ';
    out += fmt::format("{}", cumulative);
    out += '\n';
  }
  append_sample(out, name + "_sum", label_names, label_values, histogram.sum());
  out += name;
  out += "_count";
  append_labels(out, label_names, label_values);
  out += ' ';
  out += fmt::format("{}", histogram.count());
  out += '\n';
}

constexpr std::string_view type_of(const Counter* /*unused*/) { return "counter"; }
constexpr std::string_view type_of(const Gauge* /*unused*/) { return "gauge"; }
constexpr std::string_view type_of(const Histogram* /*unused*/) { return "histogram"; }

}  // namespace

void Counter::increment(double by) {
  if (!(by >= 0.0)) {
    throw std::invalid_argument(fmt::format("counter increment by {}", by));
  }
  value_ += by;
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), bucket_counts_(upper_bounds_->size() + 1, 0) {}

void Histogram::observe(double value) {
  // NaN compares false everywhere and so lands in +Inf, as the other client libraries do.
  const auto bound = std::find_if(upper_bounds_->begin(), upper_bounds_->end(),
                                  [value](double upper) { return value <= upper; });
  ++bucket_counts_[static_cast<std::size_t>(bound - upper_bounds_->begin())];
  sum_ += value;
  ++count_;
}

void FamilyBase::render_header(std::string& out, std::string_view type) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += escape_help(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type;
  out += '\n';
}

bool LabelValuesLess::operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
  return a < b;
}

bool LabelValuesLess::operator()(const std::vector<std::string>& a, std::initializer_list<std::string_view> b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](std::string_view x, std::string_view y) { return x < y; });
}

bool LabelValuesLess::operator()(std::initializer_list<std::string_view> a, const std::vector<std::string>& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](std::string_view x, std::string_view y) { return x < y; });
}

template <typename Metric>
LabelledFamily<Metric>::LabelledFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                       Metric prototype)
    : FamilyBase(std::move(name), std::move(help)),
      label_names_(std::move(label_names)),
      prototype_(std::move(prototype)) {
  if (label_names_.empty()) {
    // A family without labels has exactly one series: show it at zero from the start.
    metrics_.emplace(std::vector<std::string>{}, prototype_);
  }
}

template <typename Metric>
Metric& LabelledFamily<Metric>::at(std::initializer_list<std::string_view> label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument(fmt::format("metric {}: {} label values for {} labels", name(),
                                            label_values.size(), label_names_.size()));
  }
  if (std::all_of(label_values.begin(), label_values.end(), is_valid_utf8)) {
    if (auto found = metrics_.find(label_values); found != metrics_.end()) {
      return found->second;
    }
    return metrics_.emplace(std::vector<std::string>(label_values.begin(), label_values.end()), prototype_)
        .first->second;
  }
  std::vector<std::string> repaired;
  repaired.reserve(label_values.size());
  for (const auto value : label_values) {
    repaired.push_back(repair_utf8(value));
  }
  return metrics_.try_emplace(std::move(repaired), prototype_).first->second;
}

template <typename Metric>
void LabelledFamily<Metric>::render(std::string& out) const {
  render_header(out, type_of(static_cast<const Metric*>(nullptr)));
  for (const auto& [values, metric] : metrics_) {
    render_metric(out, name(), label_names_, values, metric);
  }
}

template class LabelledFamily<Counter>;
template class LabelledFamily<Gauge>;
template class LabelledFamily<Histogram>;

CallbackGauge::CallbackGauge(std::string name, std::string help, std::function<double()> read)
    : FamilyBase(std::move(name), std::move(help)), read_(std::move(read)) {}

void CallbackGauge::render(std::string& out) const {
  render_header(out, "gauge");
  if (read_) {
    append_sample(out, name(), {}, {}, read_());
  }
}

void Registry::claim(const std::string& name, bool histogram) {
  if (!is_valid_name(name, true)) {
    throw std::invalid_argument(fmt::format("invalid metric name '{}'", name));
  }
  // A histogram's samples are name_bucket, name_sum and name_count: they may collide with
  // another family's samples, which Prometheus would reject as duplicate series.
  std::vector<std::string> claimed{name};
  if (histogram) {
    claimed.insert(claimed.end(), {name + "_bucket", name + "_sum", name + "_count"});
  }
  for (const auto& sample : claimed) {
    if (sample_names_.contains(sample)) {
      throw std::invalid_argument(fmt::format("metric {}: '{}' registered twice", name, sample));
    }
  }
  sample_names_.insert(claimed.begin(), claimed.end());
}

CounterFamily& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names) {
  check_label_names(name, label_names);
  claim(name, false);
  auto family = std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names), Counter{});
  auto& result = *family;
  families_.push_back(std::move(family));
  return result;
}

GaugeFamily& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  check_label_names(name, label_names);
  claim(name, false);
  auto family = std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names), Gauge{});
  auto& result = *family;
  families_.push_back(std::move(family));
  return result;
}

HistogramFamily& Registry::histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                                     std::vector<std::string> label_names) {
  check_label_names(name, label_names);
  if (std::find(label_names.begin(), label_names.end(), "le") != label_names.end()) {
    throw std::invalid_argument(fmt::format("metric {}: 'le' is the bucket label", name));
  }
  for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && !(upper_bounds[i - 1] < upper_bounds[i]))) {
      throw std::invalid_argument(
          fmt::format("metric {}: bucket bounds must be finite and strictly increasing", name));
    }
  }
  claim(name, true);
  Histogram prototype(std::make_shared<const std::vector<double>>(std::move(upper_bounds)));
  auto family = std::make_unique<HistogramFamily>(std::move(name), std::move(help), std::move(label_names),
                                                  std::move(prototype));
  auto& result = *family;
  families_.push_back(std::move(family));
  return result;
}

CallbackGauge& Registry::callback_gauge(std::string name, std::string help, std::function<double()> read) {
  claim(name, false);
  auto family = std::make_unique<CallbackGauge>(std::move(name), std::move(help), std::move(read));
  auto& result = *family;
  families_.push_back(std::move(family));
  return result;
}

std::string Registry::render() const {
  std::string out;
  for (const auto& family : families_) {
    family->render(out);
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  // fmt's "{}" is the shortest text that reads back to the same double, and has no ".0" on
  // whole numbers.
  return fmt::format("{}", value);
}

BrokerMetrics::BrokerMetrics(Registry& registry)
    : tunnels_open_(registry.callback_gauge("sdbox_tunnels_open", "Box tunnels open now.")),
      logins_(registry.counter("sdbox_logins_total", "Logins finished, by outcome: success or the refusal reason.",
                               {"outcome"})),
      login_duration_(registry.histogram("sdbox_login_duration_seconds",
                                         "Time from login_begin to session ready, successful logins only.",
                                         kLoginDurationBuckets)),
      sessions_(registry.gauge("sdbox_sessions", "Live sessions, by state.", {"state"})),
      blocked_channel_attempts_(registry.counter("sdbox_blocked_channel_attempts_total",
                                                 "Requests by a box's client for a channel the gateway blocks.",
                                                 {"channel"})),
      gateway_processes_(registry.callback_gauge("sdbox_gateway_processes", "Gateway processes running now.")),
      audit_records_(registry.gauge("sdbox_audit_records", "Records in the audit chain.")),
      api_requests_(registry.counter("sdbox_api_requests_total", "Admin and ops API requests, by HTTP status.",
                                     {"status"})),
      revocations_enforced_(registry.counter("sdbox_revocations_enforced_total",
                                             "Revocations whose live views were ended, by kind.", {"kind"})),
      revocation_enforcement_(registry.histogram("sdbox_revocation_enforcement_seconds",
                                                 "Time from a revocation to the last affected view closed.",
                                                 kRevocationEnforcementBuckets)) {
  // Series that rate() and alerts rely on exist from the start, not from their first event.
  logins_.at({"success"});
  sessions_.at({"connected"});
  sessions_.at({"disconnected"});
}

void BrokerMetrics::read_tunnels_open_from(std::function<double()> read) { tunnels_open_.set_source(std::move(read)); }

void BrokerMetrics::read_gateway_processes_from(std::function<double()> read) {
  gateway_processes_.set_source(std::move(read));
}

void BrokerMetrics::login_succeeded(std::chrono::duration<double> took) {
  logins_.at({"success"}).increment();
  login_duration_.at().observe(took.count());
}

void BrokerMetrics::login_refused(std::string_view reason) { logins_.at({reason}).increment(); }

void BrokerMetrics::sessions(std::int64_t connected, std::int64_t disconnected) {
  sessions_.at({"connected"}).set(static_cast<double>(connected));
  sessions_.at({"disconnected"}).set(static_cast<double>(disconnected));
}

void BrokerMetrics::blocked_channel_attempt(std::string_view channel) {
  blocked_channel_attempts_.at({channel}).increment();
}

void BrokerMetrics::audit_records(std::int64_t records) { audit_records_.at().set(static_cast<double>(records)); }

void BrokerMetrics::api_request(int status) {
  const std::string label = std::to_string(status);
  api_requests_.at({label}).increment();
}

void BrokerMetrics::revocation_enforced(std::string_view kind, std::chrono::duration<double> took) {
  revocations_enforced_.at({kind}).increment();
  revocation_enforcement_.at().observe(took.count());
}

}  // namespace sdbox::broker::metrics
