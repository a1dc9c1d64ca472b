#include "sdbox/common/crypto.hpp"

#include "sdbox/common/piv.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace sdbox::crypto {

namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct CtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;
using PKeyCtx = std::unique_ptr<EVP_PKEY_CTX, CtxDeleter>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

Error openssl_error(std::string_view what) {
  return make_error(ErrorCategory::crypto, fmt::format("{}: {}", what, last_openssl_error()));
}

struct FileCloser {
  void operator()(std::FILE* file) const {
    if (file != nullptr) std::fclose(file);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> open_file(const std::filesystem::path& path, const char* mode) {
  File file(std::fopen(path.c_str(), mode));
  if (!file) return make_error(ErrorCategory::io, fmt::format("cannot open {}", path.string()), errno);
  return file;
}

Status add_extension(X509* certificate, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (extension == nullptr) return openssl_error(fmt::format("certificate extension {}", value));
  const int added = X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return openssl_error("adding a certificate extension");
  return {};
}

const EVP_CIPHER* ecb_cipher(std::uint8_t piv_algorithm) {
  switch (piv_algorithm) {
    case piv::alg::kTripleDes: return EVP_des_ede3_ecb();
    case piv::alg::kAes128: return EVP_aes_128_ecb();
    case piv::alg::kAes192: return EVP_aes_192_ecb();
    case piv::alg::kAes256: return EVP_aes_256_ecb();
    default: return nullptr;
  }
}

Result<Bytes> block_crypt(std::uint8_t piv_algorithm, ByteView key, ByteView block, bool encrypt) {
  const EVP_CIPHER* cipher = ecb_cipher(piv_algorithm);
  const auto key_length = piv::key_length_of(piv_algorithm);
  const auto block_size = piv::block_size_of(piv_algorithm);
  if (cipher == nullptr || !key_length || !block_size) {
    return make_error(ErrorCategory::crypto, fmt::format("algorithm {:02X} is not a block cipher", piv_algorithm));
  }
  if (key.size() != *key_length || block.size() != *block_size) {
    return make_error(ErrorCategory::crypto, "key or block has the wrong length for the algorithm");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.data(), nullptr, encrypt ? 1 : 0) != 1) {
    return openssl_error("cipher init");
  }
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  Bytes out(block.size() + *block_size);
  int written = 0;
  int final_written = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &written, block.data(), static_cast<int>(block.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + written, &final_written) != 1) {
    return openssl_error("cipher");
  }
  out.resize(static_cast<std::size_t>(written) + static_cast<std::size_t>(final_written));
  return out;
}

}  // namespace

std::string last_openssl_error() {
  std::string text;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

Bytes random_bytes(std::size_t count) {
  Bytes out(count);
  if (count > 0 && RAND_bytes(out.data(), static_cast<int>(count)) != 1) {
    throw std::runtime_error("the system random generator failed");
  }
  return out;
}

Bytes sha256(ByteView data) {
  Bytes digest(32);
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

Bytes pbkdf2_sha256(ByteView secret, ByteView salt, unsigned iterations, std::size_t length) {
  Bytes out(length);
  PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(secret.data()), static_cast<int>(secret.size()), salt.data(),
                    static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                    static_cast<int>(length), out.data());
  return out;
}

Result<PKey> generate_ec_p256() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return openssl_error("generating a P-256 key");
  return PKey(key);
}

Result<Bytes> ec_public_point(const EVP_PKEY& key) {
  std::size_t length = 0;
  if (EVP_PKEY_get_octet_string_param(&key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0, &length) != 1) {
    return openssl_error("reading the public point");
  }
  Bytes point(length);
  if (EVP_PKEY_get_octet_string_param(&key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(),
                                      &length) != 1) {
    return openssl_error("reading the public point");
  }
  point.resize(length);
  return point;
}

Result<PKey> ec_public_key_from_point(ByteView point) {
  if (point.size() != 65 || point[0] != 0x04) {
    return make_error(ErrorCategory::crypto, "a P-256 public point must be 65 bytes starting with 04");
  }
  PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return openssl_error("EC context");
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<std::uint8_t*>(point.data()),
                                        point.size()),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return openssl_error("the point is not on P-256");
  }
  return PKey(key);
}

Result<Bytes> private_key_to_der(const EVP_PKEY& key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || i2d_PKCS8PrivateKey_bio(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("encoding a private key");
  }
  BUF_MEM* memory = nullptr;
  BIO_get_mem_ptr(bio.get(), &memory);
  return Bytes(memory->data, memory->data + memory->length);
}

Result<PKey> private_key_from_der(ByteView der) {
  const unsigned char* cursor = der.data();
  EVP_PKEY* key = d2i_AutoPrivateKey(nullptr, &cursor, static_cast<long>(der.size()));
  if (key == nullptr) return openssl_error("decoding a private key");
  return PKey(key);
}

namespace {
/// Runs a PEM_write_bio_* call into memory and returns the text (empty if it failed).
template <class Write>
std::string pem_text(Write write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || write(bio.get()) != 1) return {};
  BUF_MEM* memory = nullptr;
  BIO_get_mem_ptr(bio.get(), &memory);
  return memory != nullptr ? std::string(memory->data, memory->length) : std::string{};
}
}  // namespace

Result<PKey> private_key_from_pem_file(const std::filesystem::path& path) {
  auto file = open_file(path, "r");
  if (!file) return file.error();
  EVP_PKEY* key = PEM_read_PrivateKey(file->get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return openssl_error(fmt::format("reading the private key in {}", path.string()));
  return PKey(key);
}

Status write_private_key_pem(const EVP_PKEY& key, const std::filesystem::path& path) {
  auto file = open_file(path, "w");
  if (!file) return file.error();
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  if (PEM_write_PrivateKey(file->get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("writing a private key");
  }
  return {};
}

Result<Bytes> ecdsa_sign_digest(const EVP_PKEY& key, ByteView digest) {
  PKeyCtx ctx(EVP_PKEY_CTX_new(const_cast<EVP_PKEY*>(&key), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1) return openssl_error("sign init");
  std::size_t length = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &length, digest.data(), digest.size()) != 1) return openssl_error("sign");
  Bytes signature(length);
  if (EVP_PKEY_sign(ctx.get(), signature.data(), &length, digest.data(), digest.size()) != 1) {
    return openssl_error("sign");
  }
  signature.resize(length);
  return signature;
}

Result<bool> ecdsa_verify_digest(const EVP_PKEY& public_key, ByteView digest, ByteView signature) {
  PKeyCtx ctx(EVP_PKEY_CTX_new(const_cast<EVP_PKEY*>(&public_key), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return openssl_error("verify init");
  const int verdict =
      EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest.data(), digest.size());
  ERR_clear_error();
  return verdict == 1;
}

Result<Certificate> certificate_from_der(ByteView der) {
  const unsigned char* cursor = der.data();
  X509* certificate = d2i_X509(nullptr, &cursor, static_cast<long>(der.size()));
  if (certificate == nullptr) return openssl_error("decoding a certificate");
  if (cursor != der.data() + der.size()) {
    X509_free(certificate);
    return make_error(ErrorCategory::crypto, "trailing bytes after the certificate");
  }
  return Certificate(certificate);
}

Result<Bytes> certificate_to_der(const X509& certificate) {
  unsigned char* buffer = nullptr;
  const int length = i2d_X509(&certificate, &buffer);
  if (length <= 0) return openssl_error("encoding a certificate");
  Bytes der(buffer, buffer + length);
  OPENSSL_free(buffer);
  return der;
}

Result<Certificate> certificate_from_pem_file(const std::filesystem::path& path) {
  auto file = open_file(path, "r");
  if (!file) return file.error();
  X509* certificate = PEM_read_X509(file->get(), nullptr, nullptr, nullptr);
  if (certificate == nullptr) return openssl_error(fmt::format("reading the certificate in {}", path.string()));
  return Certificate(certificate);
}

Result<Certificate> certificate_from_pem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return openssl_error("reading a certificate");
  X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (certificate == nullptr) return openssl_error("reading a PEM certificate");
  return Certificate(certificate);
}

std::string certificate_to_pem(const X509& certificate) { return pem_text([&](BIO* bio) { return PEM_write_bio_X509(bio, &certificate); }); }

std::string private_key_to_pem(const EVP_PKEY& key) {
  return pem_text([&](BIO* bio) { return PEM_write_bio_PrivateKey(bio, &key, nullptr, nullptr, 0, nullptr, nullptr); });
}

Status write_certificate_pem(const X509& certificate, const std::filesystem::path& path) {
  auto file = open_file(path, "w");
  if (!file) return file.error();
  if (PEM_write_X509(file->get(), &certificate) != 1) return openssl_error("writing a certificate");
  return {};
}

Result<PKey> certificate_public_key(const X509& certificate) {
  EVP_PKEY* key = X509_get_pubkey(const_cast<X509*>(&certificate));
  if (key == nullptr) return openssl_error("reading the certificate's public key");
  return PKey(key);
}

std::string certificate_subject(const X509& certificate) {
  char buffer[512];
  X509_NAME_oneline(X509_get_subject_name(&certificate), buffer, sizeof buffer);
  return buffer;
}

Result<Certificate> issue_certificate(const CertificateRequest& request, const EVP_PKEY& subject_key,
                                      const EVP_PKEY& issuer_key, const X509* issuer) {
  Certificate certificate(X509_new());
  if (!certificate) return openssl_error("X509_new");
  X509* cert = certificate.get();
  X509_set_version(cert, 2);
  const Bytes serial_bytes = random_bytes(16);
  BIGNUM* serial = BN_bin2bn(serial_bytes.data(), static_cast<int>(serial_bytes.size()), nullptr);
  BN_clear_bit(serial, 127);  // positive
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(request.validity.count()) * 3600);
  if (X509_set_pubkey(cert, const_cast<EVP_PKEY*>(&subject_key)) != 1) return openssl_error("setting the key");

  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(request.organization.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? const_cast<X509*>(issuer) : cert, cert, nullptr, nullptr, 0);
  Status status;
  if (request.is_ca) {
    if (!(status = add_extension(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE"))) return status.error();
    if (!(status = add_extension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"))) return status.error();
  } else {
    if (!(status = add_extension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE"))) return status.error();
    if (!(status = add_extension(cert, &ctx, NID_key_usage, "critical,digitalSignature"))) return status.error();
    std::string usages;
    if (request.client_auth) usages = "clientAuth";
    if (request.server_auth) usages += usages.empty() ? "serverAuth" : ",serverAuth";
    if (!usages.empty() && !(status = add_extension(cert, &ctx, NID_ext_key_usage, usages.c_str()))) {
      return status.error();
    }
  }
  if (!request.alt_names.empty()) {
    std::string names;
    for (const auto& alt_name : request.alt_names) names += (names.empty() ? "" : ",") + alt_name;
    if (!(status = add_extension(cert, &ctx, NID_subject_alt_name, names.c_str()))) return status.error();
  }
  if (!(status = add_extension(cert, &ctx, NID_subject_key_identifier, "hash"))) return status.error();
  if (issuer != nullptr || !request.is_ca) {
    if (!(status = add_extension(cert, &ctx, NID_authority_key_identifier, "keyid:always"))) return status.error();
  }
  if (X509_sign(cert, const_cast<EVP_PKEY*>(&issuer_key), EVP_sha256()) <= 0) return openssl_error("signing");
  return certificate;
}

std::string certificate_serial_hex(const X509& certificate) {
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(&certificate), nullptr);
  if (serial == nullptr) return {};
  char* hex = BN_bn2hex(serial);
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(serial);
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Result<std::string> certificate_fingerprint(const X509& certificate) {
  auto der = certificate_to_der(certificate);
  if (!der) return der.error();
  return to_hex(sha256(*der));
}

namespace {
std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time) {
  tm parsed{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parsed) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&parsed));
}
}  // namespace

std::chrono::system_clock::time_point certificate_not_before(const X509& certificate) {
  return to_time_point(X509_get0_notBefore(&certificate));
}
std::chrono::system_clock::time_point certificate_not_after(const X509& certificate) {
  return to_time_point(X509_get0_notAfter(&certificate));
}

std::string certificate_common_name(const X509& certificate) {
  char buffer[256];
  const int length = X509_NAME_get_text_by_NID(X509_get_subject_name(&certificate), NID_commonName, buffer, sizeof buffer);
  return length > 0 ? std::string(buffer, static_cast<std::size_t>(length)) : std::string();
}

Result<Crl> make_crl(const X509& issuer, const EVP_PKEY& issuer_key, const std::vector<std::string>& revoked_serials_hex,
                     std::chrono::hours validity) {
  Crl crl(X509_CRL_new());
  if (!crl) return openssl_error("X509_CRL_new");
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(&issuer));
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> last(ASN1_TIME_adj(nullptr, time(nullptr), 0, -60),
                                                             ASN1_TIME_free);
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> next(
      ASN1_TIME_adj(nullptr, time(nullptr), 0, static_cast<long>(validity.count()) * 3600), ASN1_TIME_free);
  X509_CRL_set1_lastUpdate(crl.get(), last.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  for (const auto& serial_hex : revoked_serials_hex) {
    BIGNUM* number = nullptr;
    if (serial_hex.empty() || BN_hex2bn(&number, serial_hex.c_str()) != static_cast<int>(serial_hex.size())) {
      BN_free(number);
      return make_error(ErrorCategory::crypto, fmt::format("'{}' is not a hex serial number", serial_hex));
    }
    X509_REVOKED* revoked = X509_REVOKED_new();
    ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(number, nullptr);
    BN_free(number);
    X509_REVOKED_set_serialNumber(revoked, serial);
    X509_REVOKED_set_revocationDate(revoked, last.get());
    ASN1_INTEGER_free(serial);
    X509_CRL_add0_revoked(crl.get(), revoked);
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), const_cast<EVP_PKEY*>(&issuer_key), EVP_sha256()) <= 0) {
    return openssl_error("signing the CRL");
  }
  return crl;
}

Result<Crl> crl_from_pem_file(const std::filesystem::path& path) {
  auto file = open_file(path, "r");
  if (!file) return file.error();
  X509_CRL* crl = PEM_read_X509_CRL(file->get(), nullptr, nullptr, nullptr);
  if (crl == nullptr) return openssl_error(fmt::format("reading the CRL in {}", path.string()));
  return Crl(crl);
}

Status write_crl_pem(const X509_CRL& crl, const std::filesystem::path& path) {
  const auto temporary = std::filesystem::path(path.string() + ".new");
  {
    auto file = open_file(temporary, "w");
    if (!file) return file.error();
    if (PEM_write_X509_CRL(file->get(), const_cast<X509_CRL*>(&crl)) != 1) return openssl_error("writing a CRL");
  }
  // Readers (the broker reloads it) see the old CRL or the new one, never half of one.
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) return make_error(ErrorCategory::io, fmt::format("cannot replace {}: {}", path.string(), error.message()));
  return {};
}

Status verify_certificate(const X509& certificate, const X509& anchor, const X509_CRL* crl,
                          std::chrono::system_clock::time_point at) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  if (!store || !ctx) return openssl_error("X509_STORE_new");
  X509_STORE_add_cert(store.get(), const_cast<X509*>(&anchor));
  if (crl != nullptr) {
    X509_STORE_add_crl(store.get(), const_cast<X509_CRL*>(crl));
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), const_cast<X509*>(&certificate), nullptr) != 1) {
    return openssl_error("X509_STORE_CTX_init");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(at));
  if (X509_verify_cert(ctx.get()) == 1) return {};
  const int reason = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return make_error(ErrorCategory::crypto, X509_verify_cert_error_string(reason), reason);
}

Result<Bytes> block_encrypt(std::uint8_t piv_algorithm, ByteView key, ByteView block) {
  return block_crypt(piv_algorithm, key, block, true);
}

Result<Bytes> block_decrypt(std::uint8_t piv_algorithm, ByteView key, ByteView block) {
  return block_crypt(piv_algorithm, key, block, false);
}

}  // namespace sdbox::crypto
