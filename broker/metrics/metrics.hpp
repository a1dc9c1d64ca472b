#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdbox::broker::metrics {

/// A value that only goes up (restarts aside), so Prometheus can take its rate.
class Counter {
 public:
  /// A negative or NaN step is a bug (a counter that goes down reads as a restart):
  /// throws std::invalid_argument.
  void increment(double by = 1.0);
  double value() const { return value_; }

 private:
  double value_ = 0.0;
};

/// A value that is set to what is true now.
class Gauge {
 public:
  void set(double value) { value_ = value; }
  void increment(double by = 1.0) { value_ += by; }
  void decrement(double by = 1.0) { value_ -= by; }
  double value() const { return value_; }

 private:
  double value_ = 0.0;
};

/// Observations counted into fixed buckets, so quantiles can be estimated across scrapes and
/// brokers. Bounds are upper bounds (inclusive) in the family's unit, seconds here.
class Histogram {
 public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> upper_bounds);
  void observe(double value);

  const std::vector<double>& upper_bounds() const { return *upper_bounds_; }
  /// Per bucket, not cumulative; one more entry than upper_bounds(): the last is +Inf.
  const std::vector<std::uint64_t>& bucket_counts() const { return bucket_counts_; }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::shared_ptr<const std::vector<double>> upper_bounds_;
  std::vector<std::uint64_t> bucket_counts_;
  double sum_ = 0.0;
  std::uint64_t count_ = 0;
};

/// What every family shares: one name, one help text, one block of the exposition.
class FamilyBase {
 public:
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  /// Appends this family's HELP, TYPE and samples in text format 0.0.4.
  virtual void render(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help) : name_(std::move(name)), help_(std::move(help)) {}
  void render_header(std::string& out, std::string_view type) const;

 private:
  std::string name_;
  std::string help_;
};

/// Orders label value lists and compares them with a braced list of views without copying,
/// so a lookup per increment costs no allocation.
struct LabelValuesLess {
  using is_transparent = void;
  bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const;
  bool operator()(const std::vector<std::string>& a, std::initializer_list<std::string_view> b) const;
  bool operator()(std::initializer_list<std::string_view> a, const std::vector<std::string>& b) const;
};

/// One metric per distinct set of label values. Label names are fixed at registration; a
/// label set appears in the output from its first at() on, in sorted order.
template <typename Metric>
class LabelledFamily final : public FamilyBase {
 public:
  LabelledFamily(std::string name, std::string help, std::vector<std::string> label_names,
                 Metric prototype);

  /// The metric for these label values, in the order of the label names, created at zero on
  /// first use. References stay valid as long as the registry. A count that does not match
  /// the label names is a bug: throws std::invalid_argument. Invalid UTF-8 (a value that came
  /// from outside) is repaired with U+FFFD rather than breaking the scrape.
  Metric& at(std::initializer_list<std::string_view> label_values = {});

  const std::vector<std::string>& label_names() const { return label_names_; }
  void render(std::string& out) const override;

 private:
  std::vector<std::string> label_names_;
  Metric prototype_;
  std::map<std::vector<std::string>, Metric, LabelValuesLess> metrics_;
};

using CounterFamily = LabelledFamily<Counter>;
using GaugeFamily = LabelledFamily<Gauge>;
using HistogramFamily = LabelledFamily<Histogram>;

extern template class LabelledFamily<Counter>;
extern template class LabelledFamily<Gauge>;
extern template class LabelledFamily<Histogram>;

/// A gauge whose value belongs to another part (the tunnel server's open tunnels), read at
/// render time so it can never drift from the truth. Without a source it renders no sample:
/// an absent value rather than a false zero.
class CallbackGauge final : public FamilyBase {
 public:
  CallbackGauge(std::string name, std::string help, std::function<double()> read);
  /// The source may be bound after registration, once the part that owns the value exists.
  void set_source(std::function<double()> read) { read_ = std::move(read); }
  void render(std::string& out) const override;

 private:
  std::function<double()> read_;
};

/// The families of one process, rendered in registration order for `/metrics`. Created by
/// main and passed by pointer: no globals, so tests get their own. Names are checked at
/// registration (metric `[a-zA-Z_:][a-zA-Z0-9_:]*`, label `[a-zA-Z_][a-zA-Z0-9_]*` not
/// starting with `__`, unique within the registry and the family); a bad one is a bug and
/// throws std::invalid_argument. Single-threaded: use it from the io thread only.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  /// `upper_bounds` strictly increasing and finite; the +Inf bucket is always added.
  HistogramFamily& histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                             std::vector<std::string> label_names = {});
  CallbackGauge& callback_gauge(std::string name, std::string help, std::function<double()> read = {});

  /// The whole exposition, Prometheus text format 0.0.4.
  std::string render() const;

 private:
  /// Checks the name and reserves it and the sample names it will produce.
  void claim(const std::string& name, bool histogram);

  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::set<std::string, std::less<>> sample_names_;
};

/// Escapes HELP text: backslash and newline.
std::string escape_help(std::string_view text);
/// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);
/// A sample value as the format spells it: integers without decimals, shortest round-trip
/// otherwise, `+Inf`, `-Inf`, `NaN`.
std::string format_value(double value);

/// Bucket bounds (seconds) for the broker's latency histograms.
inline const std::vector<double> kLoginDurationBuckets{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
inline const std::vector<double> kRevocationEnforcementBuckets{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2};

/// The broker's own families, registered on a registry main owns, with one method per event so
/// callers never spell metric or label names.
class BrokerMetrics {
 public:
  explicit BrokerMetrics(Registry& registry);

  /// Bound once the tunnel server exists; until then the gauge renders no sample.
  void read_tunnels_open_from(std::function<double()> read);
  void read_gateway_processes_from(std::function<double()> read);

  /// A login that reached session ready; `took` runs from login_begin.
  void login_succeeded(std::chrono::duration<double> took);
  /// A login refused with this reason (e.g. "card_suspended"); refusals are not timed, since
  /// their time is mostly the person at the box.
  void login_refused(std::string_view reason);
  /// The broker's live sessions now, by state.
  void sessions(std::int64_t connected, std::int64_t disconnected);
  /// A box's client asked for a channel the gateway blocks. Pass the channel's name as the
  /// gateway knows it: each distinct value becomes a series.
  void blocked_channel_attempt(std::string_view channel);
  /// The audit chain's length after an append (or at start).
  void audit_records(std::int64_t records);
  void api_request(int status);
  /// A revocation (kind e.g. "card_suspended", "box_revoked") whose live views were ended;
  /// `took` runs from the staff request to the last view closed.
  void revocation_enforced(std::string_view kind, std::chrono::duration<double> took);

 private:
  CallbackGauge& tunnels_open_;
  CounterFamily& logins_;
  HistogramFamily& login_duration_;
  GaugeFamily& sessions_;
  CounterFamily& blocked_channel_attempts_;
  CallbackGauge& gateway_processes_;
  GaugeFamily& audit_records_;
  CounterFamily& api_requests_;
  CounterFamily& revocations_enforced_;
  HistogramFamily& revocation_enforcement_;
};

}  // namespace sdbox::broker::metrics
