// The migrations are embedded by `sqlx::migrate!`, which cargo does not
// know to rebuild when a migration file is added or edited.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
