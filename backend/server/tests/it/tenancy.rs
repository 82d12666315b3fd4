//! Tenancy: one account's data is invisible from another account's scope.

use errorwatch_core::Error;
use errorwatch_core::admin;
use errorwatch_core::secret::SecretString;
use errorwatch_core::service::project;

use crate::harness::{TestApp, db_test};

db_test!(
    async fn projects_are_invisible_to_other_accounts(backend) {
        let app = TestApp::spawn(backend).await;
        let url = app.config.http.public_url.clone();
        let ada = admin::create_user_unscoped(&app.db, "ada@example.com", SecretString::new("password-a"), false).await.expect("user");
        let bob = admin::create_user_unscoped(&app.db, "bob@example.com", SecretString::new("password-b"), false).await.expect("user");
        let acme = admin::create_account_for_user(&app.db, "Acme", ada.id).await.expect("account");
        let globex = admin::create_account_for_user(&app.db, "Globex", bob.id).await.expect("account");

        let ada_in_acme = admin::scope_for_member(&app.db, ada.id, acme.id).await.expect("member");
        let bob_in_globex = admin::scope_for_member(&app.db, bob.id, globex.id).await.expect("member");
        project::create_project(&ada_in_acme, &url, "Web").await.expect("project");
        project::create_project(&bob_in_globex, &url, "Web").await.expect("same name, other account");

        let acme_projects = project::list_projects(&ada_in_acme, &url).await.expect("list");
        assert_eq!(acme_projects.len(), 1);
        assert_eq!(acme_projects[0].account_id, acme.id);
        let globex_projects = project::list_projects(&bob_in_globex, &url).await.expect("list");
        assert_eq!(globex_projects.len(), 1);
        assert_ne!(acme_projects[0].id, globex_projects[0].id);
        assert_ne!(acme_projects[0].keys[0].public_key, globex_projects[0].keys[0].public_key);

        // Bob is no member of Acme: no scope, and the answer does not reveal that Acme exists.
        assert!(matches!(admin::scope_for_member(&app.db, bob.id, acme.id).await, Err(Error::NotFound)));
        assert!(matches!(
            admin::scope_for_member(&app.db, bob.id, errorwatch_core::ids::AccountId(9_999_999)).await,
            Err(Error::NotFound)
        ));
    }
);

db_test!(
    async fn account_slugs_stay_unique(backend) {
        let app = TestApp::spawn(backend).await;
        let owner = admin::create_user_unscoped(&app.db, "owner@example.com", SecretString::new("password-o"), false).await.expect("user");
        let first = admin::create_account_for_user(&app.db, "Acme", owner.id).await.expect("account");
        let second = admin::create_account_for_user(&app.db, "ACME", owner.id).await.expect("account");
        assert_eq!(first.slug, "acme");
        assert_eq!(second.slug, "acme-2");
        let scope = admin::scope_for_member(&app.db, owner.id, first.id).await.expect("member");
        project::create_project(&scope, &app.config.http.public_url, "Web").await.expect("project");
        assert!(matches!(
            project::create_project(&scope, &app.config.http.public_url, "web").await,
            Err(Error::Conflict(_))
        ));
    }
);
