package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/healthhub/healthhub/backend/store/postgres"
)

// databaseCredentials returns the PostgreSQL credentials of the server: nil
// (the URL's) unless a Secrets Manager secret holds them
// (HEALTHHUB_DATABASE_PASSWORD_SECRET). The secret is read for every new
// connection, so when Secrets Manager rotates the password (Aurora's managed
// master password), connections made after the rotation use the new one and
// the server goes on without a restart.
func databaseCredentials(ctx context.Context, c Config) (postgres.Credentials, error) {
	if c.DatabasePasswordSecret == "" {
		return nil, nil
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for the database password secret: %w", err)
	}
	return secretCredentials(secretsmanager.NewFromConfig(awsCfg), c.DatabasePasswordSecret), nil
}

// secretGetter is the call of Secrets Manager the server makes.
type secretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// secretCredentials reads a secret that holds {"username": …, "password": …}
// (the form RDS and Aurora keep their managed master password in), or the
// password alone as plain text.
func secretCredentials(sm secretGetter, id string) postgres.Credentials {
	return func(ctx context.Context) (string, string, error) {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return "", "", fmt.Errorf("read secret %s (the server's IAM identity needs secretsmanager:GetSecretValue on it): %w", id, err)
		}
		s := aws.ToString(out.SecretString)
		if s == "" {
			return "", "", fmt.Errorf("secret %s holds no text", id)
		}
		if !strings.HasPrefix(strings.TrimSpace(s), "{") {
			return "", s, nil
		}
		var v struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return "", "", fmt.Errorf("secret %s is not the JSON of a database secret: %w", id, err)
		}
		if v.Password == "" {
			return "", "", errors.New("secret " + id + " has no password")
		}
		return v.Username, v.Password, nil
	}
}
