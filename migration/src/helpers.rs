//! Small statement builders shared by migrations. They must never change behaviour: an applied
//! migration has to mean the same thing forever.

use sea_orm_migration::prelude::*;

/// A cascading foreign key `from.0(from.1) → to(id)`.
pub(crate) fn fk(
    name: &str,
    from: (&'static str, &'static str),
    to: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// An index on `cols` of `table`, unique when asked.
pub(crate) fn index(
    name: &str,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for col in cols {
        statement.col(*col);
    }
    if unique {
        statement.unique();
    }
    statement.to_owned()
}
