#include "gateway/gateway_settings.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

namespace sdbox::broker {

namespace {

using Json = nlohmann::json;

Error invalid(const std::string& message) { return make_error(ErrorCategory::config, "gateway settings: " + message); }

/// Checks that `object` has exactly `required` keys (plus any of `optional`).
Status exact_keys(const Json& object, const std::string& where, const std::set<std::string>& required,
                  const std::set<std::string>& optional = {}) {
  if (!object.is_object()) return invalid(where + " is not an object");
  for (const auto& [key, value] : object.items()) {
    if (!required.contains(key) && !optional.contains(key)) return invalid(fmt::format("unknown field {}.{}", where, key));
  }
  for (const auto& key : required) {
    if (!object.contains(key)) return invalid(fmt::format("missing field {}.{}", where, key));
  }
  return {};
}

Result<std::string> text_field(const Json& object, const std::string& where, const std::string& key, bool may_be_empty = false) {
  const auto& value = object.at(key);
  if (!value.is_string()) return invalid(where + "." + key + " is not a string");
  auto text = value.get<std::string>();
  if (!may_be_empty && text.empty()) return invalid(where + "." + key + " is empty");
  if (text.size() > 16384) return invalid(where + "." + key + " is too long");
  if (text.find('\0') != std::string::npos) return invalid(where + "." + key + " holds a NUL byte");
  return text;
}

}  // namespace

Result<GatewaySettings> parse_gateway_settings(std::string_view text) {
  Json root = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return invalid("not valid JSON");
  if (auto keys = exact_keys(root, "settings", {"desktop", "tls", "box", "context"}); !keys) return keys.error();
  const auto& desktop = root.at("desktop");
  if (auto keys = exact_keys(desktop, "desktop", {"host", "port", "user", "password"}, {"domain", "certificate_sha256"}); !keys) {
    return keys.error();
  }
  const auto& tls = root.at("tls");
  if (auto keys = exact_keys(tls, "tls", {"certificate_pem", "private_key_pem"}); !keys) return keys.error();
  const auto& box = root.at("box");
  if (auto keys = exact_keys(box, "box", {"user", "password"}); !keys) return keys.error();
  const auto& context = root.at("context");
  if (!context.is_object()) return invalid("context is not an object");

  GatewaySettings settings;
  auto host = text_field(desktop, "desktop", "host");
  if (!host) return host.error();
  settings.desktop.host = *host;
  const auto& port = desktop.at("port");
  if (!port.is_number_unsigned() || port.get<std::uint64_t>() == 0 || port.get<std::uint64_t>() > 65535) {
    return invalid("desktop.port is not a port number (1..65535)");
  }
  settings.desktop.port = port.get<std::uint16_t>();
  auto user = text_field(desktop, "desktop", "user");
  if (!user) return user.error();
  settings.desktop.user = *user;
  auto password = text_field(desktop, "desktop", "password", true);
  if (!password) return password.error();
  settings.desktop.password = *password;
  if (desktop.contains("domain")) {
    auto domain = text_field(desktop, "desktop", "domain", true);
    if (!domain) return domain.error();
    settings.desktop.domain = *domain;
  }
  if (desktop.contains("certificate_sha256")) {
    auto pin = text_field(desktop, "desktop", "certificate_sha256");
    if (!pin) return pin.error();
    if (pin->size() != 64 || pin->find_first_not_of("0123456789abcdef") != std::string::npos) {
      return invalid("desktop.certificate_sha256 is not 64 lowercase hex digits");
    }
    settings.desktop.pinned_certificate_sha256 = *pin;
  }
  auto certificate = text_field(tls, "tls", "certificate_pem");
  if (!certificate) return certificate.error();
  settings.certificate_pem = *certificate;
  auto key = text_field(tls, "tls", "private_key_pem");
  if (!key) return key.error();
  settings.private_key_pem = *key;
  auto box_user = text_field(box, "box", "user");
  if (!box_user) return box_user.error();
  settings.box_user = *box_user;
  auto box_password = text_field(box, "box", "password");
  if (!box_password) return box_password.error();
  if (box_password->size() < 16) return invalid("box.password is shorter than 16 characters");
  settings.box_password = *box_password;
  for (const auto& [key_name, value] : context.items()) {
    static const std::set<std::string> known{"session", "user", "box", "project"};
    if (!known.contains(key_name)) return invalid("unknown field context." + key_name);
    auto field = text_field(context, "context", key_name);
    if (!field) return field.error();
    settings.context[key_name] = *field;
  }
  return settings;
}

std::string serialise_gateway_settings(const GatewaySettings& settings) {
  Json desktop{{"host", settings.desktop.host},
               {"port", settings.desktop.port},
               {"user", settings.desktop.user},
               {"password", settings.desktop.password}};
  if (!settings.desktop.domain.empty()) desktop["domain"] = settings.desktop.domain;
  if (!settings.desktop.pinned_certificate_sha256.empty()) desktop["certificate_sha256"] = settings.desktop.pinned_certificate_sha256;
  Json root{{"desktop", desktop},
            {"tls", {{"certificate_pem", settings.certificate_pem}, {"private_key_pem", settings.private_key_pem}}},
            {"box", {{"user", settings.box_user}, {"password", settings.box_password}}},
            {"context", settings.context}};
  return root.dump();
}

}  // namespace sdbox::broker
