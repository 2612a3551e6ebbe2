package server

import (
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/store"
)

// Config is the server's configuration, from flags and HEALTHHUB_*
// environment variables (flags win).
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	// DatabasePasswordSecret is an AWS Secrets Manager secret (ARN or name)
	// holding the database user's password, read for every new connection.
	DatabasePasswordSecret string
	PublicURL              string
	KeyringFile            string
	// KeyringInDatabase keeps the KMS-wrapped keyring in the PostgreSQL
	// database, where every replica reads it (hosted mode: a KMS key, a
	// PostgreSQL URL and no keyring file given).
	KeyringInDatabase bool
	AllowedOrigins    []string
	// TLS is off, auto (the server's own authority in <data dir>/tls) or
	// files (TLSCert and TLSKey); TLSHosts are extra names for auto.
	TLS              string
	TLSCert          string
	TLSKey           string
	TLSHosts         []string
	TrustedProxies   []netip.Prefix
	SelfRegistration bool
	IdleTimeout      time.Duration
	LoginPerIP       float64
	LoginPerAccount  float64
	// RegistrationsPerIPHour bounds self-registrations from one address.
	RegistrationsPerIPHour float64
	LogLevel               string
	LogFormat              string
	// Argon2Memory in KiB; lower only for tests and benchmarks.
	Argon2Memory uint32
	// E-mail delivery of notifications; no SMTPAddr keeps them in the app.
	SMTPAddr     string
	SMTPFrom     string
	SMTPUsername string
	SMTPPassword string
	SMTPStartTLS string
	// KMSKeyID, when set, wraps the keyring's data keys with this AWS KMS
	// key (hosted mode); credentials and region come from the usual AWS
	// environment (AWS_REGION, roles, …).
	KMSKeyID string
	// BlobDir is the folder of stored files (images, recordings,
	// documents, backups), default <data dir>/blobs. BlobS3Bucket, when
	// set, keeps them in S3 instead, under BlobS3Prefix, every write
	// encrypted by S3 with the KMS key BlobKMSKeyID (SSE-KMS).
	BlobDir      string
	BlobS3Bucket string
	BlobS3Prefix string
	BlobKMSKeyID string
	// KnowledgeStarter installs the starter documents as a knowledge
	// source on first start: "auto" does so on SQLite (a standalone
	// install), "true" always, "false" never.
	KnowledgeStarter string
	// KnowledgeS3 lets admins add S3 buckets as knowledge sources, with
	// credentials and region from the usual AWS environment.
	KnowledgeS3 bool
	// Embeddings names the embedding provider for vector search: "" (none,
	// full-text search only), "openai" (or any server speaking its API at
	// OpenAIBaseURL) or "bedrock" (Titan, AWS credentials from the
	// environment). EmbeddingsModel "" takes the provider's default.
	Embeddings      string
	EmbeddingsModel string
	OpenAIBaseURL   string
	OpenAIAPIKey    string
	// LLMProvider answers the assistant until an admin configures
	// providers: offline (extractive, the default), openai (OpenAIBaseURL,
	// OpenAIAPIKey, OpenAIModel) or bedrock (BedrockModel in AWS region
	// BedrockRegion). LLMExternal: text sent to it is redacted.
	LLMProvider   string
	OpenAIModel   string
	BedrockModel  string
	BedrockRegion string
	LLMExternal   bool
	// AssistantPassages is how many knowledge passages ground each answer:
	// 0 for the default (5), negative to answer without the knowledge base
	// (the flag's 0).
	AssistantPassages int
	// SyncInterval is how often a node enrolled with an upstream syncs
	// when all is well; after a failure it retries sooner, backing off.
	SyncInterval time.Duration
	// Snapshots of a SQLite installation (package backup): the folder
	// (BackupDirDefault when it is the data folder's own), the age
	// recipients they are encrypted to, how many are kept, and how often
	// the server takes one (0: never; only with recipients).
	BackupDir        string
	BackupDirDefault bool
	BackupRecipients string
	BackupKeep       int
	BackupEvery      time.Duration
	// Continuous replication of a SQLite installation's database
	// (package backup/replica): to the folder ReplicaDir (a second disk,
	// a NAS, a USB stick) and/or the S3 bucket ReplicaS3Bucket under
	// ReplicaS3Prefix (ReplicaS3Endpoint for an S3-compatible server such
	// as the clinic server's; ReplicaKMSKeyID for SSE-KMS), restorable to
	// any point of the last ReplicaRetention.
	ReplicaDir        string
	ReplicaS3Bucket   string
	ReplicaS3Prefix   string
	ReplicaS3Endpoint string
	ReplicaS3Region   string
	ReplicaKMSKeyID   string
	ReplicaRetention  time.Duration
	// CanaryEvery is how often the server writes the backup canary that a
	// restore drill reads (0: never).
	CanaryEvery time.Duration
	// ClockOffset shifts the server's clock: to rehearse a workstation
	// whose clock is wrong. Zero in normal use.
	ClockOffset time.Duration
	// lookup is the environment the configuration was read from, for the
	// settings of tools HealthHub drives (pgBackRest) that it passes on.
	lookup func(string) string
}

// defaultDataDir is the OS user data folder for HealthHub.
func defaultDataDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd":
		if d := getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "healthhub")
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "share", "healthhub")
		}
	default:
		if d, err := os.UserConfigDir(); err == nil {
			return filepath.Join(d, "HealthHub")
		}
	}
	return "healthhub-data"
}

// bindFlags declares the flags shared by the commands that open the store.
func bindFlags(fs *flag.FlagSet, getenv func(string) string) func() (Config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	addr := fs.String("addr", env("HEALTHHUB_ADDR", "127.0.0.1:8080"), "listen address (HEALTHHUB_ADDR)")
	dataDir := fs.String("data-dir", env("HEALTHHUB_DATA_DIR", defaultDataDir(getenv)), "data folder (HEALTHHUB_DATA_DIR)")
	dbURL := fs.String("database-url", env("HEALTHHUB_DATABASE_URL", ""), "postgres://… for PostgreSQL; empty for SQLite in the data folder (HEALTHHUB_DATABASE_URL)")
	dbSecret := fs.String("database-password-secret", env("HEALTHHUB_DATABASE_PASSWORD_SECRET", ""), "AWS Secrets Manager secret (ARN or name) holding the PostgreSQL password, as {\"username\",\"password\"} JSON or plain text, read for every new connection so a rotated password is used without a restart (HEALTHHUB_DATABASE_PASSWORD_SECRET)")
	publicURL := fs.String("public-url", env("HEALTHHUB_PUBLIC_URL", ""), "URL people use to reach this server, for links it prints (HEALTHHUB_PUBLIC_URL)")
	keyring := fs.String("keyring-file", env("HEALTHHUB_KEYRING_FILE", ""), "encryption keyring file; default keyring.json in the data folder (HEALTHHUB_KEYRING_FILE)")
	origins := fs.String("allowed-origins", env("HEALTHHUB_ALLOWED_ORIGINS", "wails://wails,http://wails.localhost"), "comma-separated browser origins allowed to call the API besides the server's own (HEALTHHUB_ALLOWED_ORIGINS)")
	proxies := fs.String("trusted-proxies", env("HEALTHHUB_TRUSTED_PROXIES", ""), "comma-separated CIDRs whose X-Forwarded-For is believed (HEALTHHUB_TRUSTED_PROXIES)")
	selfReg := fs.String("self-registration", env("HEALTHHUB_SELF_REGISTRATION", "true"), "let patients register themselves until an admin changes the setting (HEALTHHUB_SELF_REGISTRATION)")
	idle := fs.String("idle-timeout", env("HEALTHHUB_IDLE_TIMEOUT", "15m"), "automatic logoff after this long without activity, until an admin changes the setting (HEALTHHUB_IDLE_TIMEOUT)")
	perIP := fs.String("login-rate-per-ip", env("HEALTHHUB_LOGIN_RATE_PER_IP", "30"), "sign-in attempts per minute from one address; -1 for no limit (HEALTHHUB_LOGIN_RATE_PER_IP)")
	perAcct := fs.String("login-rate-per-account", env("HEALTHHUB_LOGIN_RATE_PER_ACCOUNT", "10"), "sign-in attempts per minute for one account; -1 for no limit (HEALTHHUB_LOGIN_RATE_PER_ACCOUNT)")
	regRate := fs.String("register-rate-per-ip", env("HEALTHHUB_REGISTER_RATE_PER_IP", "20"), "self-registrations per hour from one address; -1 for no limit (HEALTHHUB_REGISTER_RATE_PER_IP)")
	level := fs.String("log-level", env("HEALTHHUB_LOG_LEVEL", "info"), "debug, info, warn or error (HEALTHHUB_LOG_LEVEL)")
	format := fs.String("log-format", env("HEALTHHUB_LOG_FORMAT", "text"), "text or json (HEALTHHUB_LOG_FORMAT)")
	smtpAddr := fs.String("smtp-addr", env("HEALTHHUB_SMTP_ADDR", ""), "SMTP server host:port for e-mail notifications; empty keeps notifications in the app (HEALTHHUB_SMTP_ADDR)")
	smtpFrom := fs.String("smtp-from", env("HEALTHHUB_SMTP_FROM", ""), "sender address of notification e-mails (HEALTHHUB_SMTP_FROM)")
	smtpUser := fs.String("smtp-username", env("HEALTHHUB_SMTP_USERNAME", ""), "SMTP user name (HEALTHHUB_SMTP_USERNAME)")
	smtpStartTLS := fs.String("smtp-starttls", env("HEALTHHUB_SMTP_STARTTLS", "auto"), "auto, always or never (HEALTHHUB_SMTP_STARTTLS)")
	kmsKey := fs.String("kms-key-id", env("HEALTHHUB_KMS_KEY_ID", ""), "AWS KMS key (ARN or alias) that wraps the encryption keyring in hosted mode (HEALTHHUB_KMS_KEY_ID)")
	blobDir := fs.String("blob-dir", env("HEALTHHUB_BLOB_DIR", ""), "folder of stored files (images, recordings, documents, backups), encrypted; default blobs in the data folder (HEALTHHUB_BLOB_DIR)")
	blobBucket := fs.String("blob-s3-bucket", env("HEALTHHUB_BLOB_S3_BUCKET", ""), "S3 bucket for stored files instead of the folder, with AWS credentials and region from the environment (HEALTHHUB_BLOB_S3_BUCKET)")
	blobPrefix := fs.String("blob-s3-prefix", env("HEALTHHUB_BLOB_S3_PREFIX", ""), "folder in the blob bucket; empty for its top (HEALTHHUB_BLOB_S3_PREFIX)")
	blobKMSKey := fs.String("blob-kms-key-id", env("HEALTHHUB_BLOB_KMS_KEY_ID", ""), "ARN of the KMS key S3 encrypts stored files with (SSE-KMS), the one the bucket policy requires (HEALTHHUB_BLOB_KMS_KEY_ID)")
	starterDocs := fs.String("knowledge-starter", env("HEALTHHUB_KNOWLEDGE_STARTER", "auto"), "install the starter documents as a knowledge source on first start: auto (on SQLite), true or false (HEALTHHUB_KNOWLEDGE_STARTER)")
	knowledgeS3 := fs.String("knowledge-s3", env("HEALTHHUB_KNOWLEDGE_S3", "false"), "allow S3 buckets as knowledge sources, with AWS credentials and region from the environment (HEALTHHUB_KNOWLEDGE_S3)")
	embeddings := fs.String("embeddings", env("HEALTHHUB_EMBEDDINGS", ""), "embedding provider for knowledge search: empty (full-text only), openai or bedrock (HEALTHHUB_EMBEDDINGS)")
	embeddingsModel := fs.String("embeddings-model", env("HEALTHHUB_EMBEDDINGS_MODEL", ""), "embedding model; empty for the provider's default (HEALTHHUB_EMBEDDINGS_MODEL)")
	openAIBase := fs.String("openai-base-url", env("HEALTHHUB_OPENAI_BASE_URL", ""), "OpenAI-compatible API base URL, e.g. http://127.0.0.1:11434/v1 for Ollama; empty for OpenAI (HEALTHHUB_OPENAI_BASE_URL)")
	llmProvider := fs.String("llm-provider", env("HEALTHHUB_LLM_PROVIDER", "offline"), "assistant answers with: offline (no model, quotes the knowledge base), openai (any OpenAI-compatible server) or bedrock (HEALTHHUB_LLM_PROVIDER)")
	openAIModel := fs.String("openai-model", env("HEALTHHUB_OPENAI_MODEL", "gpt-4o-mini"), "chat model of the openai provider (HEALTHHUB_OPENAI_MODEL)")
	bedrockModel := fs.String("bedrock-model", env("HEALTHHUB_BEDROCK_MODEL", "anthropic.claude-3-5-haiku-20241022-v1:0"), "chat model of the bedrock provider (HEALTHHUB_BEDROCK_MODEL)")
	bedrockRegion := fs.String("bedrock-region", env("HEALTHHUB_BEDROCK_REGION", env("AWS_REGION", "us-east-1")), "AWS region of the bedrock provider (HEALTHHUB_BEDROCK_REGION)")
	llmExternal := fs.String("llm-external", env("HEALTHHUB_LLM_EXTERNAL", ""), "true: the provider is a third party and identifiers are redacted before text goes to it; false for a model on the clinic's own machines; empty: true unless the base URL is a loopback address (HEALTHHUB_LLM_EXTERNAL)")
	passages := fs.String("assistant-passages", env("HEALTHHUB_ASSISTANT_PASSAGES", "5"), "knowledge passages that ground each answer, 0 to 20; 0 answers without the knowledge base (HEALTHHUB_ASSISTANT_PASSAGES)")
	tlsMode := fs.String("tls", env("HEALTHHUB_TLS", "off"), "off; auto: HTTPS with the server's own certificate authority, made on first start in <data dir>/tls, whose fingerprint desktop apps pin; or files: HTTPS with --tls-cert and --tls-key (HEALTHHUB_TLS)")
	tlsCert := fs.String("tls-cert", env("HEALTHHUB_TLS_CERT", ""), "certificate chain (PEM) for --tls files (HEALTHHUB_TLS_CERT)")
	tlsKey := fs.String("tls-key", env("HEALTHHUB_TLS_KEY", ""), "private key (PEM) for --tls files (HEALTHHUB_TLS_KEY)")
	tlsHosts := fs.String("tls-hosts", env("HEALTHHUB_TLS_HOSTS", ""), "comma-separated names and addresses the auto certificate holds besides this machine's (HEALTHHUB_TLS_HOSTS)")
	clockOffset := fs.String("clock-offset", env("HEALTHHUB_CLOCK_OFFSET", "0s"), "shift this server's clock by this much, such as -10m, to rehearse a machine whose clock is wrong; 0s in normal use (HEALTHHUB_CLOCK_OFFSET)")
	backupDir := fs.String("backup-dir", env("HEALTHHUB_BACKUP_DIR", ""), "folder of snapshots, best on another disk, a NAS or a USB stick; default backups in the data folder (HEALTHHUB_BACKUP_DIR)")
	backupRecipients := fs.String("backup-recipients", env("HEALTHHUB_BACKUP_RECIPIENTS", ""), "comma-separated age1… recipients snapshots are encrypted to; make one with 'healthhubd backup keygen' (HEALTHHUB_BACKUP_RECIPIENTS)")
	backupKeep := fs.String("backup-keep", env("HEALTHHUB_BACKUP_KEEP", "48"), "how many snapshots to keep; older ones are deleted after a new one (HEALTHHUB_BACKUP_KEEP)")
	canaryEvery := fs.String("canary-every", env("HEALTHHUB_CANARY_EVERY", "1m"), "how often the server writes the backup canary a restore drill measures the recovery point by; 0 for never (HEALTHHUB_CANARY_EVERY)")
	backupEvery := fs.String("backup-every", env("HEALTHHUB_BACKUP_EVERY", "1h"), "how often the server of a SQLite installation takes a snapshot when recipients are set; 0 for never (HEALTHHUB_BACKUP_EVERY)")
	replicaDir := fs.String("replica-dir", env("HEALTHHUB_REPLICA_DIR", ""), "folder the database of a SQLite installation is replicated to continuously, on another disk, a NAS or a USB stick; it must exist (HEALTHHUB_REPLICA_DIR)")
	replicaBucket := fs.String("replica-s3-bucket", env("HEALTHHUB_REPLICA_S3_BUCKET", ""), "S3 bucket the database of a SQLite installation is replicated to continuously, with AWS credentials from the environment (HEALTHHUB_REPLICA_S3_BUCKET)")
	replicaPrefix := fs.String("replica-s3-prefix", env("HEALTHHUB_REPLICA_S3_PREFIX", ""), "folder in the replica bucket; empty for its top (HEALTHHUB_REPLICA_S3_PREFIX)")
	replicaEndpoint := fs.String("replica-s3-endpoint", env("HEALTHHUB_REPLICA_S3_ENDPOINT", ""), "URL of an S3-compatible server holding the replica bucket, such as the clinic server's; empty for AWS (HEALTHHUB_REPLICA_S3_ENDPOINT)")
	replicaRegion := fs.String("replica-s3-region", env("HEALTHHUB_REPLICA_S3_REGION", env("AWS_REGION", "")), "region of the replica bucket; empty finds it (AWS) or takes us-east-1 (an endpoint) (HEALTHHUB_REPLICA_S3_REGION)")
	replicaKMSKey := fs.String("replica-kms-key-id", env("HEALTHHUB_REPLICA_KMS_KEY_ID", ""), "ARN of the KMS key S3 encrypts the replica with (SSE-KMS) (HEALTHHUB_REPLICA_KMS_KEY_ID)")
	replicaRetention := fs.String("replica-retention", env("HEALTHHUB_REPLICA_RETENTION", "72h"), "how far back the replica can restore, from 1h to 8760h (HEALTHHUB_REPLICA_RETENTION)")
	syncEvery := fs.String("sync-interval", env("HEALTHHUB_SYNC_INTERVAL", "15s"), "how often this installation syncs with its upstream, once enrolled (HEALTHHUB_SYNC_INTERVAL)")
	argonMem := fs.String("argon2-memory-kib", env("HEALTHHUB_ARGON2_MEMORY_KIB", "65536"), "password hashing memory in KiB (HEALTHHUB_ARGON2_MEMORY_KIB)")

	return func() (Config, error) {
		c := Config{KMSKeyID: *kmsKey, KnowledgeStarter: *starterDocs, Embeddings: *embeddings, EmbeddingsModel: *embeddingsModel,
			OpenAIBaseURL: strings.TrimRight(*openAIBase, "/"), OpenAIAPIKey: getenv("HEALTHHUB_OPENAI_API_KEY"), SMTPAddr: *smtpAddr, SMTPFrom: *smtpFrom, SMTPUsername: *smtpUser, SMTPStartTLS: *smtpStartTLS,
			// The password comes from the environment only, never a flag that
			// other users could read in the process list.
			SMTPPassword: getenv("HEALTHHUB_SMTP_PASSWORD"),
			Addr:         *addr, DataDir: *dataDir, DatabaseURL: *dbURL, PublicURL: strings.TrimRight(*publicURL, "/"),
			KeyringFile: *keyring, LogLevel: *level, LogFormat: *format, lookup: getenv}
		c.DatabasePasswordSecret = *dbSecret
		if c.DatabasePasswordSecret != "" && !store.IsPostgres(c.DatabaseURL) {
			return c, fmt.Errorf("HEALTHHUB_DATABASE_PASSWORD_SECRET is the password of a PostgreSQL database: set HEALTHHUB_DATABASE_URL to it")
		}
		if c.KeyringFile == "" {
			c.KeyringFile = filepath.Join(c.DataDir, "keyring.json")
			c.KeyringInDatabase = c.KMSKeyID != "" && store.IsPostgres(c.DatabaseURL)
		}
		c.BlobDir, c.BlobS3Bucket, c.BlobS3Prefix, c.BlobKMSKeyID = *blobDir, *blobBucket, *blobPrefix, *blobKMSKey
		if c.BlobDir == "" {
			c.BlobDir = filepath.Join(c.DataDir, "blobs")
		}
		if c.BlobS3Bucket == "" && (c.BlobS3Prefix != "" || c.BlobKMSKeyID != "") {
			return c, fmt.Errorf("HEALTHHUB_BLOB_S3_PREFIX and HEALTHHUB_BLOB_KMS_KEY_ID are settings of an S3 blob store: set HEALTHHUB_BLOB_S3_BUCKET too")
		}
		c.TLS, c.TLSCert, c.TLSKey = *tlsMode, *tlsCert, *tlsKey
		switch c.TLS {
		case "off", "auto":
		case "files":
			if c.TLSCert == "" || c.TLSKey == "" {
				return c, fmt.Errorf("--tls files needs --tls-cert and --tls-key (HEALTHHUB_TLS_CERT, HEALTHHUB_TLS_KEY)")
			}
		default:
			return c, fmt.Errorf("tls must be off, auto or files, not %q", c.TLS)
		}
		for _, h := range strings.Split(*tlsHosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				c.TLSHosts = append(c.TLSHosts, h)
			}
		}
		for _, o := range strings.Split(*origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
		for _, p := range strings.Split(*proxies, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return c, fmt.Errorf("trusted proxy %q is not a CIDR such as 10.0.0.0/8: %w", p, err)
			}
			c.TrustedProxies = append(c.TrustedProxies, pfx)
		}
		var err error
		switch c.Embeddings {
		case "", "openai", "bedrock":
		default:
			return c, fmt.Errorf("embeddings must be empty, openai or bedrock, not %q", c.Embeddings)
		}
		c.BackupDir, c.BackupRecipients = *backupDir, *backupRecipients
		if c.BackupDir == "" {
			c.BackupDir, c.BackupDirDefault = filepath.Join(c.DataDir, "backups"), true
		}
		if c.BackupKeep, err = strconv.Atoi(*backupKeep); err != nil || c.BackupKeep < 1 {
			return c, fmt.Errorf("backup-keep must be a whole number of at least 1, not %q", *backupKeep)
		}
		if c.BackupEvery, err = time.ParseDuration(*backupEvery); err != nil || (c.BackupEvery != 0 && c.BackupEvery < time.Second) || c.BackupEvery > 7*24*time.Hour {
			return c, fmt.Errorf("backup-every must be 0 or a duration from 1s to 168h, such as 1h, not %q", *backupEvery)
		}
		if c.CanaryEvery, err = time.ParseDuration(*canaryEvery); err != nil || (c.CanaryEvery != 0 && c.CanaryEvery < 10*time.Millisecond) || c.CanaryEvery > time.Hour {
			return c, fmt.Errorf("canary-every must be 0 or a duration from 10ms to 1h, such as 1m, not %q", *canaryEvery)
		}
		c.ReplicaDir, c.ReplicaS3Bucket, c.ReplicaS3Prefix = *replicaDir, *replicaBucket, *replicaPrefix
		c.ReplicaS3Endpoint, c.ReplicaS3Region, c.ReplicaKMSKeyID = *replicaEndpoint, *replicaRegion, *replicaKMSKey
		if c.ReplicaS3Bucket == "" && (c.ReplicaS3Prefix != "" || c.ReplicaS3Endpoint != "" || c.ReplicaKMSKeyID != "") {
			return c, fmt.Errorf("HEALTHHUB_REPLICA_S3_PREFIX, _ENDPOINT and HEALTHHUB_REPLICA_KMS_KEY_ID are settings of an S3 replica: set HEALTHHUB_REPLICA_S3_BUCKET too")
		}
		if c.ReplicaS3Endpoint != "" {
			if u, err := url.Parse(c.ReplicaS3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return c, fmt.Errorf("replica-s3-endpoint must be a URL such as https://clinic-server:9000, not %q", c.ReplicaS3Endpoint)
			}
		}
		if c.ReplicaConfigured() && store.IsPostgres(c.DatabaseURL) {
			return c, fmt.Errorf("HEALTHHUB_REPLICA_* replicate the database of a SQLite installation; this one uses PostgreSQL (pgBackRest or Aurora's point-in-time recovery back it up)")
		}
		if c.ReplicaRetention, err = time.ParseDuration(*replicaRetention); err != nil || c.ReplicaRetention < time.Hour || c.ReplicaRetention > 8760*time.Hour {
			return c, fmt.Errorf("replica-retention must be a duration from 1h to 8760h, such as 72h, not %q", *replicaRetention)
		}
		if c.SyncInterval, err = time.ParseDuration(*syncEvery); err != nil || c.SyncInterval < 10*time.Millisecond || c.SyncInterval > 24*time.Hour {
			return c, fmt.Errorf("sync-interval must be a duration from 10ms to 24h, such as 15s, not %q", *syncEvery)
		}
		if c.ClockOffset, err = time.ParseDuration(*clockOffset); err != nil || c.ClockOffset.Abs() > 24*time.Hour {
			return c, fmt.Errorf("clock-offset must be a duration within 24h, such as -10m, not %q", *clockOffset)
		}
		c.LLMProvider, c.OpenAIModel, c.BedrockModel, c.BedrockRegion = *llmProvider, *openAIModel, *bedrockModel, *bedrockRegion
		if n, err := strconv.Atoi(*passages); err != nil || n < 0 || n > 20 {
			return c, fmt.Errorf("assistant-passages must be a number from 0 to 20, not %q", *passages)
		} else if c.AssistantPassages = n; n == 0 {
			c.AssistantPassages = -1
		}
		switch c.LLMProvider {
		case "offline", "openai", "bedrock":
		default:
			return c, fmt.Errorf("llm-provider must be offline, openai or bedrock, not %q", c.LLMProvider)
		}
		switch *llmExternal {
		case "true":
			c.LLMExternal = true
		case "false":
		case "":
			// A third party unless the server is on this machine.
			c.LLMExternal = c.LLMProvider != "offline" && !isLoopbackURL(c.OpenAIBaseURL)
			if c.LLMProvider == "bedrock" {
				c.LLMExternal = true
			}
		default:
			return c, fmt.Errorf("llm-external must be true, false or empty, not %q", *llmExternal)
		}
		switch c.KnowledgeStarter {
		case "auto", "true", "false":
		default:
			return c, fmt.Errorf("knowledge-starter must be auto, true or false, not %q", c.KnowledgeStarter)
		}
		if c.KnowledgeS3, err = strconv.ParseBool(*knowledgeS3); err != nil {
			return c, fmt.Errorf("knowledge-s3 must be true or false, not %q", *knowledgeS3)
		}
		if c.SelfRegistration, err = strconv.ParseBool(*selfReg); err != nil {
			return c, fmt.Errorf("self-registration must be true or false, not %q", *selfReg)
		}
		if c.IdleTimeout, err = time.ParseDuration(*idle); err != nil || c.IdleTimeout < time.Minute {
			return c, fmt.Errorf("idle timeout %q must be a duration of at least 1m, such as 15m", *idle)
		}
		if c.LoginPerIP, err = strconv.ParseFloat(*perIP, 64); err != nil {
			return c, fmt.Errorf("login rate per IP %q is not a number", *perIP)
		}
		if c.RegistrationsPerIPHour, err = strconv.ParseFloat(*regRate, 64); err != nil {
			return c, fmt.Errorf("registration rate %q is not a number", *regRate)
		}
		if c.LoginPerAccount, err = strconv.ParseFloat(*perAcct, 64); err != nil {
			return c, fmt.Errorf("login rate per account %q is not a number", *perAcct)
		}
		mem, err := strconv.ParseUint(*argonMem, 10, 32)
		if err != nil || mem < 64 {
			return c, fmt.Errorf("argon2 memory %q must be a whole number of KiB, at least 64", *argonMem)
		}
		c.Argon2Memory = uint32(mem)
		if c.SMTPAddr != "" && c.SMTPFrom == "" {
			return c, fmt.Errorf("HEALTHHUB_SMTP_FROM is needed with HEALTHHUB_SMTP_ADDR: the address notification e-mails come from")
		}
		switch c.LogFormat {
		case "text", "json":
		default:
			return c, fmt.Errorf("log format must be text or json, not %q", c.LogFormat)
		}
		return c, nil
	}
}

// isLoopbackURL reports whether u names a server on this machine.
func isLoopbackURL(u string) bool {
	if u == "" {
		return false
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := parsed.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// EmailConfigured reports whether notifications also go out by e-mail (an
// SMTP relay is set); without it they reach people in the app only.
func (c Config) EmailConfigured() bool { return c.SMTPAddr != "" }
