//! `/admin`: workspaces, users and memberships (founders), API keys
//! (founders and admins). Every form is a server action the server checks.

use leptos::prelude::*;

use crate::admin_api::{
    admin_overview, AdminData, CreateKey, CreateUser, CreateWorkspace, GrantMembership, RevokeKey, RevokeMembership,
    UpdateUser,
};
use crate::components::{loaded_view, TopBar};
use crate::format::absolute_time;
use crate::model::{ApiKeySummary, Micros, Role, UserSummary, WorkspaceSummary};

#[component]
pub fn AdminPage() -> impl IntoView {
    let actions = Actions {
        create_workspace: ServerAction::new(),
        create_user: ServerAction::new(),
        update_user: ServerAction::new(),
        grant: ServerAction::new(),
        revoke_membership: ServerAction::new(),
        create_key: ServerAction::new(),
        revoke_key: ServerAction::new(),
    };
    // Any completed action reloads the lists.
    let data = Resource::new(move || actions.versions(), |_| admin_overview());
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(data.await, move |data| view! { <Admin data actions/> }.into_any())
            })}
        </Transition>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    create_workspace: ServerAction<CreateWorkspace>,
    create_user: ServerAction<CreateUser>,
    update_user: ServerAction<UpdateUser>,
    grant: ServerAction<GrantMembership>,
    revoke_membership: ServerAction<RevokeMembership>,
    create_key: ServerAction<CreateKey>,
    revoke_key: ServerAction<RevokeKey>,
}

impl Actions {
    fn versions(&self) -> [usize; 7] {
        [
            self.create_workspace.version().get(),
            self.create_user.version().get(),
            self.update_user.version().get(),
            self.grant.version().get(),
            self.revoke_membership.version().get(),
            self.create_key.version().get(),
            self.revoke_key.version().get(),
        ]
    }
}

/// The outcome of the last run of an action, as a status line.
fn outcome(value: impl Get<Value = Option<Result<String, ServerFnError>>> + Send + Sync + 'static) -> impl IntoView {
    move || {
        value.get().map(|result| match result {
            Ok(message) => view! { <p class="notice" role="status">{message}</p> }.into_any(),
            Err(err) => view! { <p class="alert" role="alert">{err.to_string()}</p> }.into_any(),
        })
    }
}

#[component]
fn Admin(data: AdminData, actions: Actions) -> impl IntoView {
    let AdminData { viewer, workspaces, users, keys } = data;
    let is_founder = viewer.role == Role::Founder;
    let slugs: Vec<String> = workspaces.iter().map(|w| w.slug.clone()).collect();
    view! {
        <TopBar viewer/>
        <main class="page admin">
            <h1>"Administration"</h1>
            <WorkspacesSection workspaces can_create=is_founder action=actions.create_workspace/>
            {users.map(|users| view! { <UsersSection users slugs=slugs.clone() actions/> })}
            <KeysSection keys slugs actions/>
        </main>
    }
}

#[component]
fn WorkspacesSection(workspaces: Vec<WorkspaceSummary>, can_create: bool, action: ServerAction<CreateWorkspace>) -> impl IntoView {
    view! {
        <section aria-labelledby="workspaces">
            <h2 id="workspaces">"Workspaces"</h2>
            <table class="list">
                <thead><tr><th scope="col">"Slug"</th><th scope="col">"Name"</th></tr></thead>
                <tbody>
                    {workspaces.into_iter().map(|w| view! {
                        <tr><td><a href=format!("/?workspace={}", w.slug)>{w.slug.clone()}</a></td><td>{w.name}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            <Show when=move || can_create>
                <ActionForm action attr:class="inline" attr:aria-label="New workspace">
                    <label>"Slug" <input name="slug" required pattern="[a-z0-9][a-z0-9_-]*" maxlength="64"/></label>
                    <label>"Name" <input name="name"/></label>
                    <button type="submit" class="primary">"Create workspace"</button>
                </ActionForm>
                {outcome(action.value())}
            </Show>
        </section>
    }
}

fn role_options(selected: Role) -> impl IntoView {
    Role::ALL
        .iter()
        .map(|role| view! { <option value=role.as_str() selected=*role == selected>{role.as_str()}</option> })
        .collect_view()
}

fn workspace_options(slugs: &[String], blank: &'static str) -> impl IntoView {
    std::iter::once(view! { <option value="">{blank}</option> }.into_any())
        .chain(slugs.iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }.into_any()))
        .collect_view()
}

#[component]
fn UsersSection(users: Vec<UserSummary>, slugs: Vec<String>, actions: Actions) -> impl IntoView {
    let rows = users
        .into_iter()
        .map(|user| {
            let (user_id, email) = (user.id, user.email.clone());
            let memberships = user
                .memberships
                .into_iter()
                .map(|m| {
                    let email = email.clone();
                    let label = match &m.brand {
                        Some(brand) => format!("{} (brand {brand})", m.workspace),
                        None => m.workspace.clone(),
                    };
                    view! {
                        <li>
                            {label} " "
                            <ActionForm action=actions.revoke_membership attr:class="inline-button">
                                <input type="hidden" name="user_id" value=user_id/>
                                <input type="hidden" name="workspace" value=m.workspace.clone()/>
                                <button type="submit" class="link" aria-label=format!("Remove {email} from {}", m.workspace)>"remove"</button>
                            </ActionForm>
                        </li>
                    }
                })
                .collect_view();
            let slugs = slugs.clone();
            let grant = (!user.role.is_platform()).then(move || view! {
                <ActionForm action=actions.grant attr:class="inline">
                    <input type="hidden" name="user_id" value=user.id/>
                    <label>"Workspace" <select name="workspace" required>{workspace_options(&slugs, "choose…")}</select></label>
                    <label>"Brand" <input name="brand" size="10"/></label>
                    <button type="submit" class="secondary">"Add membership"</button>
                </ActionForm>
            });
            view! {
                <tr>
                    <td>{user.email.clone()} <br/> <span class="muted">{user.name.clone()}</span></td>
                    <td>
                        <ActionForm action=actions.update_user attr:class="inline">
                            <input type="hidden" name="user_id" value=user.id/>
                            <label>
                                "Role" <select name="role">{role_options(user.role)}</select>
                            </label>
                            <label>
                                "Access"
                                <select name="disabled">
                                    <option value="false" selected=!user.disabled>"active"</option>
                                    <option value="true" selected=user.disabled>"disabled"</option>
                                </select>
                            </label>
                            <button type="submit" class="secondary">"Save"</button>
                        </ActionForm>
                    </td>
                    <td><ul class="plain">{memberships}</ul> {grant}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="users">
            <h2 id="users">"Users"</h2>
            {outcome(actions.update_user.value())}
            {outcome(actions.grant.value())}
            {outcome(actions.revoke_membership.value())}
            <table class="list">
                <thead><tr><th scope="col">"User"</th><th scope="col">"Role and access"</th><th scope="col">"Memberships"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"New user"</h3>
            <ActionForm action=actions.create_user attr:class="inline" attr:aria-label="New user">
                <label>"Email" <input type="email" name="email" required/></label>
                <label>"Name" <input name="name"/></label>
                <label>"Role" <select name="role">{role_options(Role::Provider)}</select></label>
                <label>"Workspace" <select name="workspace">{workspace_options(&slugs, "none (platform roles)")}</select></label>
                <label>"Brand" <input name="brand" size="10"/></label>
                <label>"Password" <input type="password" name="password" required minlength="8" autocomplete="new-password"/></label>
                <button type="submit" class="primary">"Create user"</button>
            </ActionForm>
            {outcome(actions.create_user.value())}
        </section>
    }
}

#[component]
fn KeysSection(keys: Vec<ApiKeySummary>, slugs: Vec<String>, actions: Actions) -> impl IntoView {
    let created = actions.create_key.value();
    let rows = keys
        .into_iter()
        .map(|key| {
            let used = key.last_used_at.map_or("never".to_owned(), |t| absolute_time(Micros(t)));
            let revoked = key.revoked_at.is_some();
            view! {
                <tr class:muted=revoked>
                    <td>{key.name.clone()} <br/> <code>{format!("{}…", key.prefix)}</code></td>
                    <td>{key.workspace.clone().unwrap_or_else(|| "every workspace".into())}</td>
                    <td>{key.scopes.clone()}</td>
                    <td>{absolute_time(key.created_at)}</td>
                    <td>{used}</td>
                    <td>
                        {if revoked {
                            view! { "revoked" }.into_any()
                        } else {
                            view! {
                                <ActionForm action=actions.revoke_key attr:class="inline-button">
                                    <input type="hidden" name="key_id" value=key.id/>
                                    <button type="submit" class="secondary" aria-label=format!("Revoke {}", key.name)>"Revoke"</button>
                                </ActionForm>
                            }.into_any()
                        }}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="keys">
            <h2 id="keys">"API keys"</h2>
            {outcome(actions.revoke_key.value())}
            <table class="list">
                <thead>
                    <tr>
                        <th scope="col">"Key"</th><th scope="col">"Workspace"</th><th scope="col">"Scopes"</th>
                        <th scope="col">"Created"</th><th scope="col">"Last used"</th><th scope="col">"Status"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"New key"</h3>
            <ActionForm action=actions.create_key attr:class="inline" attr:aria-label="New API key">
                <label>"Workspace" <select name="workspace">{workspace_options(&slugs, "every workspace")}</select></label>
                <label>
                    "Scopes"
                    <select name="scopes">
                        <option value="ingest">"ingest"</option>
                        <option value="read">"read"</option>
                        <option value="ingest,read">"ingest, read"</option>
                    </select>
                </label>
                <label>"Name" <input name="name"/></label>
                <button type="submit" class="primary">"Create key"</button>
            </ActionForm>
            {move || created.get().map(|result| match result {
                Ok(secret) => view! {
                    <div role="status">
                        <p>"Copy this key now; it is not shown again:"</p>
                        <p class="secret" data-testid="new-key">{secret}</p>
                    </div>
                }.into_any(),
                Err(err) => view! { <p class="alert" role="alert">{err.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}
