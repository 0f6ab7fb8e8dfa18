//! Walks any `Serialize` value field by field without building a copy of it, telling a
//! `Visit` where it is (`spec.scopes[2].unit`) and what it finds. The validator uses it to
//! hold every object to its CRD schema's limits and to look in every string for national
//! identity numbers, in one pass and without allocating per value.

use std::fmt;

use serde::ser::{self, Serialize};

/// One step of a path: a struct field, a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Field(&'static str),
    Key(String),
    Index(usize),
}

/// Receives what the walk finds. `enter`/`leave` bracket every field, key and index.
pub trait Visit {
    fn enter(&mut self, step: &Step);
    fn leave(&mut self);
    fn string(&mut self, s: &str);
    fn number(&mut self, _n: f64) {}
    /// A list (or map) with `len` entries starts.
    fn list(&mut self, _len: usize) {}
}

/// Walks `value`. Values that do not serialise (never the case for accord's types) are
/// simply not walked further.
pub fn walk<T: Serialize + ?Sized>(value: &T, visit: &mut impl Visit) {
    let _ = value.serialize(Walker { visit });
}

/// A path as the messages write it: `spec.scopes[2].unit`.
#[derive(Clone, Debug, Default)]
pub struct PathTracker(pub Vec<Step>);

impl fmt::Display for PathTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Step::Field(n) if i == 0 => write!(f, "{n}")?,
                Step::Field(n) => write!(f, ".{n}")?,
                Step::Key(k) if i == 0 => write!(f, "{k}")?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
/// Never raised by the walk itself; serde needs an error type.
pub struct Stop;
impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stop")
    }
}
impl std::error::Error for Stop {}
impl ser::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

struct Walker<'a, V: Visit> {
    visit: &'a mut V,
}

/// Collects a map key as text.
struct KeyText(Option<String>);

macro_rules! number {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result<(), Stop> {
            self.visit.number(v as f64);
            Ok(())
        }
    )*};
}

impl<'a, V: Visit> ser::Serializer for Walker<'a, V> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Seq<'a, V>;
    type SerializeTuple = Seq<'a, V>;
    type SerializeTupleStruct = Seq<'a, V>;
    type SerializeTupleVariant = Seq<'a, V>;
    type SerializeMap = Map<'a, V>;
    type SerializeStruct = Struct<'a, V>;
    type SerializeStructVariant = Struct<'a, V>;

    number!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_f32: f32, serialize_f64: f64);

    fn serialize_bool(self, _: bool) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Stop> {
        self.visit.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        self.visit.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Stop> {
        self.visit.string(v);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.visit.enter(&Step::Field(variant));
        let r = v.serialize(Walker { visit: self.visit });
        self.visit.leave();
        r
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'a, V>, Stop> {
        self.visit.list(len.unwrap_or(0));
        Ok(Seq {
            visit: self.visit,
            next: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a, V>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a, V>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Seq<'a, V>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Map<'a, V>, Stop> {
        self.visit.list(len.unwrap_or(0));
        Ok(Map { visit: self.visit })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Struct<'a, V>, Stop> {
        Ok(Struct { visit: self.visit })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Struct<'a, V>, Stop> {
        Ok(Struct { visit: self.visit })
    }
}

pub struct Seq<'a, V: Visit> {
    visit: &'a mut V,
    next: usize,
}

impl<V: Visit> Seq<'_, V> {
    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.visit.enter(&Step::Index(self.next));
        self.next += 1;
        let r = v.serialize(Walker {
            visit: &mut *self.visit,
        });
        self.visit.leave();
        r
    }
}

impl<V: Visit> ser::SerializeSeq for Seq<'_, V> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.item(v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl<V: Visit> ser::SerializeTuple for Seq<'_, V> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.item(v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl<V: Visit> ser::SerializeTupleStruct for Seq<'_, V> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.item(v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl<V: Visit> ser::SerializeTupleVariant for Seq<'_, V> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.item(v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

pub struct Map<'a, V: Visit> {
    visit: &'a mut V,
}

impl<V: Visit> ser::SerializeMap for Map<'_, V> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Stop> {
        let mut key = KeyText(None);
        let _ = k.serialize(&mut key);
        let key = key.0.unwrap_or_default();
        // Keys are values too: a national identity number used as a key is found.
        self.visit.string(&key);
        self.visit.enter(&Step::Key(key));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        let r = v.serialize(Walker {
            visit: &mut *self.visit,
        });
        self.visit.leave();
        r
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

pub struct Struct<'a, V: Visit> {
    visit: &'a mut V,
}

impl<V: Visit> Struct<'_, V> {
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, v: &T) -> Result<(), Stop> {
        self.visit.enter(&Step::Field(name));
        let r = v.serialize(Walker {
            visit: &mut *self.visit,
        });
        self.visit.leave();
        r
    }
}

impl<V: Visit> ser::SerializeStruct for Struct<'_, V> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.field(name, v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl<V: Visit> ser::SerializeStructVariant for Struct<'_, V> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.field(name, v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// A map key's text: strings as they are, numbers and booleans written out.
impl ser::Serializer for &mut KeyText {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = ser::Impossible<(), Stop>;
    type SerializeTuple = ser::Impossible<(), Stop>;
    type SerializeTupleStruct = ser::Impossible<(), Stop>;
    type SerializeTupleVariant = ser::Impossible<(), Stop>;
    type SerializeMap = ser::Impossible<(), Stop>;
    type SerializeStruct = ser::Impossible<(), Stop>;
    type SerializeStructVariant = ser::Impossible<(), Stop>;

    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        self.0 = Some(v.to_string());
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<(), Stop> {
        self.0 = Some(v.to_string());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Stop> {
        self.0 = Some(v.to_string());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Stop> {
        self.0 = Some(v.to_string());
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Stop> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Stop> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Stop> {
        self.serialize_i64(v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Stop> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Stop> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Stop> {
        self.serialize_u64(v.into())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.0 = Some(v.to_string());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.0 = Some(v.to_string());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Stop> {
        self.0 = Some(v.to_string());
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Stop> {
        self.serialize_str(v)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records (path, value) of every string.
    #[derive(Default)]
    struct Strings {
        path: PathTracker,
        seen: Vec<(String, String)>,
    }
    impl Visit for Strings {
        fn enter(&mut self, step: &Step) {
            self.path.0.push(step.clone());
        }
        fn leave(&mut self) {
            self.path.0.pop();
        }
        fn string(&mut self, s: &str) {
            self.seen.push((self.path.to_string(), s.to_string()));
        }
    }

    #[test]
    fn every_string_is_seen_with_its_path() {
        let v = serde_json::json!({"spec": {"person": {"givenName": "Anna"},
            "scopes": [{"unit": "a"}, {"unit": "b"}]}, "metadata": {"labels": {"k": "v"}}});
        let mut s = Strings::default();
        walk(&v, &mut s);
        let seen: Vec<(&str, &str)> =
            s.seen.iter().map(|(p, v)| (p.as_str(), v.as_str())).collect();
        assert!(seen.contains(&("spec.person.givenName", "Anna")), "{seen:?}");
        assert!(seen.contains(&("spec.scopes[1].unit", "b")), "{seen:?}");
        assert!(seen.contains(&("metadata.labels.k", "v")), "{seen:?}");
        assert!(seen.contains(&("metadata.labels", "k")), "keys too: {seen:?}");
    }
}
