//! Which column means what: presets for Finnish, Swedish, Danish and English headers,
//! overridable by a mapping file.

use crate::validate::Invalid;
use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    GivenName,
    FamilyName,
    Email,
    Phone,
    Unit,
    Skills,
    Groups,
    Street,
    PostalCode,
    City,
    Country,
    NationalId,
    ValidFrom,
    ValidUntil,
    EmployeeNumber,
    Title,
    HsaId,
    Roles,
    Features,
    /// A column to leave alone.
    Ignore,
}

impl Field {
    pub fn is_sensitive(self) -> bool {
        self == Field::NationalId
    }
}

const PRESETS: &[(&str, Field)] = &[
    // Finnish
    ("etunimi", Field::GivenName),
    ("sukunimi", Field::FamilyName),
    ("sähköposti", Field::Email),
    ("puhelin", Field::Phone),
    ("matkapuhelin", Field::Phone),
    ("yksikkö", Field::Unit),
    ("osaamiset", Field::Skills),
    ("ryhmät", Field::Groups),
    ("katuosoite", Field::Street),
    ("postinumero", Field::PostalCode),
    ("postitoimipaikka", Field::City),
    ("maa", Field::Country),
    ("henkilötunnus", Field::NationalId),
    ("hetu", Field::NationalId),
    ("voimassa asti", Field::ValidUntil),
    ("voimassa alkaen", Field::ValidFrom),
    ("henkilönumero", Field::EmployeeNumber),
    ("työntekijänumero", Field::EmployeeNumber),
    ("nimike", Field::Title),
    ("roolit", Field::Roles),
    ("toiminnot", Field::Features),
    // Swedish
    ("förnamn", Field::GivenName),
    ("efternamn", Field::FamilyName),
    ("e-post", Field::Email),
    ("epost", Field::Email),
    ("telefon", Field::Phone),
    ("mobil", Field::Phone),
    ("enhet", Field::Unit),
    ("kompetenser", Field::Skills),
    ("grupper", Field::Groups),
    ("gatuadress", Field::Street),
    ("adress", Field::Street),
    ("postnummer", Field::PostalCode),
    ("ort", Field::City),
    ("land", Field::Country),
    ("personnummer", Field::NationalId),
    ("giltig till", Field::ValidUntil),
    ("giltig från", Field::ValidFrom),
    ("anställningsnummer", Field::EmployeeNumber),
    ("titel", Field::Title),
    ("befattning", Field::Title),
    ("hsa-id", Field::HsaId),
    ("roller", Field::Roles),
    ("funktioner", Field::Features),
    // Danish
    ("fornavn", Field::GivenName),
    ("efternavn", Field::FamilyName),
    ("e-mail", Field::Email),
    ("enhed", Field::Unit),
    ("kompetencer", Field::Skills),
    ("adresse", Field::Street),
    ("postnr", Field::PostalCode),
    ("by", Field::City),
    ("cpr", Field::NationalId),
    ("cpr-nummer", Field::NationalId),
    ("gyldig til", Field::ValidUntil),
    ("gyldig fra", Field::ValidFrom),
    ("medarbejdernummer", Field::EmployeeNumber),
    ("stilling", Field::Title),
    // English
    ("given name", Field::GivenName),
    ("first name", Field::GivenName),
    ("family name", Field::FamilyName),
    ("last name", Field::FamilyName),
    ("surname", Field::FamilyName),
    ("email", Field::Email),
    ("phone", Field::Phone),
    ("mobile", Field::Phone),
    ("unit", Field::Unit),
    ("skills", Field::Skills),
    ("groups", Field::Groups),
    ("street", Field::Street),
    ("address", Field::Street),
    ("postal code", Field::PostalCode),
    ("zip", Field::PostalCode),
    ("city", Field::City),
    ("country", Field::Country),
    ("national id", Field::NationalId),
    ("valid until", Field::ValidUntil),
    ("valid from", Field::ValidFrom),
    ("employee number", Field::EmployeeNumber),
    ("title", Field::Title),
    ("hsa id", Field::HsaId),
    ("roles", Field::Roles),
    ("features", Field::Features),
];

/// A mapping file: header → field, and values for fields the roster does not carry.
///
/// ```yaml
/// columns: {"Työnimike": title, "Kustannuspaikka": ignore}
/// defaults: {roles: [employee], features: [messaging]}
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    #[serde(default)]
    pub columns: BTreeMap<String, Field>,
    #[serde(default)]
    pub defaults: Defaults,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

fn normalise(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace(['_', '.'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The field of every column; the error names the columns nobody could place.
pub fn map_columns(headers: &[String], file: &MappingFile) -> Result<Vec<Field>, Invalid> {
    let overrides: BTreeMap<String, Field> = file
        .columns
        .iter()
        .map(|(k, v)| (normalise(k), *v))
        .collect();
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for h in headers {
        let n = normalise(h);
        match overrides
            .get(&n)
            .copied()
            .or_else(|| PRESETS.iter().find(|(p, _)| *p == n).map(|(_, f)| *f))
        {
            Some(f) => out.push(f),
            None if n.is_empty() => out.push(Field::Ignore),
            None => {
                unknown.push(h.clone());
                out.push(Field::Ignore);
            }
        }
    }
    if !unknown.is_empty() {
        return Err(Invalid::from(format!(
            "columns {} are not known; map them in a mapping file (columns: {{\"HEADER\": FIELD}}, FIELD one of givenName, familyName, email, phone, unit, skills, groups, street, postalCode, city, country, nationalId, validFrom, validUntil, employeeNumber, title, hsaId, roles, features, ignore)",
            unknown
                .iter()
                .map(|u| format!("{u:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for required in [
        Field::GivenName,
        Field::FamilyName,
        Field::Email,
        Field::Unit,
    ] {
        if !out.contains(&required) {
            return Err(Invalid::from(format!(
                "no column holds {required:?}; map one in a mapping file"
            )));
        }
    }
    Ok(out)
}
