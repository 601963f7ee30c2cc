//! IAMs (sources of identities) and the SCIM tokens that act for them.

use crate::auth::scim_token;
use crate::store::accounts::BUILT_IN_IAM_ID;
use crate::store::{Iam, NewToken, TokenInfo};
use uuid::Uuid;

use super::accounts::{Ctx, IamSettings};
use super::permissions::may;
use super::{Directory, Error, Result};

/// The built-in IAM, administered here rather than by an identity provider.
pub const BUILT_IN_IAM: &str = "bim";

/// An IAM name: what operators type and scripts pass, so kept plain.
pub fn validate_iam_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_value(
            "an IAM name is 1 to 64 characters: letters, digits, '-', '_' or '.', starting with a letter or digit",
        ))
    }
}

impl Directory {
    /// Creates an IAM, as the command line does.
    pub async fn create_iam(&self, name: &str, display_name: Option<&str>) -> Result<Iam> {
        self.create_iam_as(&Ctx::cli(), name, display_name).await
    }

    pub async fn create_iam_as(
        &self,
        ctx: &Ctx,
        name: &str,
        display_name: Option<&str>,
    ) -> Result<Iam> {
        ctx.require(may::MANAGE_IAMS)?;
        validate_iam_name(name)?;
        let id = self.new_id();
        let entry = ctx
            .entry("iam.created")
            .target("Iam", id)
            .attributes(["name", "displayName"]);
        Ok(self
            .store
            .create_iam(id, name, display_name, &entry, self.now())
            .await?)
    }

    /// Every IAM's name and id (what any administrator's lists filter by);
    /// their settings and tokens are `managed_iams`.
    pub async fn list_iams(&self) -> Result<Vec<Iam>> {
        Ok(self.store.list_iams().await?)
    }

    /// Every IAM as its administrators manage it.
    pub async fn managed_iams(&self, ctx: &Ctx) -> Result<Vec<ManagedIam>> {
        ctx.require(may::MANAGE_IAMS)?;
        let tokens = self.store.list_tokens().await?;
        let mut out = Vec::new();
        for iam in self.list_iams().await? {
            out.push(self.managed(iam, &tokens).await?);
        }
        Ok(out)
    }

    /// One IAM as its administrators manage it.
    pub async fn managed_iam(&self, ctx: &Ctx, name: &str) -> Result<ManagedIam> {
        ctx.require(may::MANAGE_IAMS)?;
        let iam = self.iam(name).await?;
        let tokens = self.store.list_tokens().await?;
        self.managed(iam, &tokens).await
    }

    async fn managed(&self, iam: Iam, tokens: &[TokenInfo]) -> Result<ManagedIam> {
        Ok(ManagedIam {
            settings: self.iam_settings(iam.id).await?,
            tokens: tokens
                .iter()
                .filter(|t| t.iam_id == iam.id)
                .cloned()
                .collect(),
            iam,
        })
    }

    pub async fn iam(&self, name: &str) -> Result<Iam> {
        self.store
            .iam_by_name(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("no IAM named '{}'", super::truncate(name))))
    }

    /// Mints a SCIM token for an IAM. The secret is returned once and only
    /// its hash is stored.
    pub async fn create_token(
        &self,
        iam: &str,
        label: Option<&str>,
    ) -> Result<(TokenInfo, String)> {
        self.create_token_as(&Ctx::cli(), iam, label).await
    }

    pub async fn create_token_as(
        &self,
        ctx: &Ctx,
        iam: &str,
        label: Option<&str>,
    ) -> Result<(TokenInfo, String)> {
        ctx.require(may::MANAGE_IAMS)?;
        let iam = self.iam(iam).await?;
        if iam.id == BUILT_IN_IAM_ID.uuid() {
            return Err(Error::refused(
                "the built-in IAM takes no SCIM tokens: its accounts, groups and admins are \
                 managed with the admin API and the console, where each change needs its permission",
            ));
        }
        let id = Uuid::new_v4();
        let (token, secret_hash) = scim_token::mint(id);
        let now = self.now();
        let entry = ctx.entry("token.created").target("Token", id);
        self.store
            .create_token(
                &NewToken {
                    id,
                    iam_id: iam.id,
                    label: label.map(str::to_owned),
                    secret_hash,
                    created: now,
                },
                &entry,
            )
            .await?;
        Ok((
            TokenInfo {
                id,
                iam_id: iam.id,
                iam_name: iam.name,
                label: label.map(str::to_owned),
                created: now,
                revoked: None,
                last_used: None,
            },
            token,
        ))
    }

    /// Every SCIM token's record (never its secret), revoked ones too.
    pub async fn list_tokens(&self, ctx: &Ctx) -> Result<Vec<TokenInfo>> {
        ctx.require(may::MANAGE_IAMS)?;
        Ok(self.store.list_tokens().await?)
    }

    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let id = Uuid::parse_str(id).map_err(|_| Error::not_found("no token with that id"))?;
        self.revoke_token_as(&Ctx::cli(), id).await
    }

    pub async fn revoke_token_as(&self, ctx: &Ctx, id: Uuid) -> Result<()> {
        ctx.require(may::MANAGE_IAMS)?;
        let entry = ctx.entry("token.revoked").target("Token", id);
        if self.store.revoke_token(id, &entry, self.now()).await? {
            Ok(())
        } else {
            Err(Error::not_found("no active token with that id"))
        }
    }

    /// The IAM a presented SCIM token acts for, or None if it is not a live
    /// token of ours.
    pub async fn authenticate_scim_token(&self, presented: &str) -> Result<Option<Uuid>> {
        if let Some(iam) = self.token_cache.get(presented) {
            return Ok(Some(iam));
        }
        let Some((id, secret)) = scim_token::parse(presented) else {
            return Ok(None);
        };
        let Some(stored) = self.store.token_secret(id).await? else {
            return Ok(None);
        };
        // A token of the built-in IAM (minted before it took none) would
        // write admins' accounts with no permission checked: never valid.
        let valid = scim_token::verify(secret, &stored.secret_hash)
            && !stored.revoked
            && stored.iam_id != BUILT_IN_IAM_ID.uuid();
        if valid {
            self.token_cache.put(presented, stored.iam_id);
            // "Last used" for administrators, written at most once a minute
            // per token: authentication must not cost a write per request.
            let now = self.now();
            if stored
                .last_used
                .is_none_or(|t| now - t > time::Duration::minutes(1))
                && let Err(e) = self.store.token_used(id, now).await
            {
                tracing::warn!(error = %e, "recording a token's last use failed");
            }
        }
        Ok(valid.then_some(stored.iam_id))
    }
}

/// An IAM with what its administrators manage: settings and SCIM tokens.
#[derive(Debug, Clone)]
pub struct ManagedIam {
    pub iam: Iam,
    pub settings: IamSettings,
    /// Its tokens' records, revoked ones too.
    pub tokens: Vec<TokenInfo>,
}
